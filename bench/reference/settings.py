"""The benchmark's reference: Seatclock's own settings (same middleware, database, cache,
production mode) with one extra URL, ``POST /bench/insert`` (:mod:`bench.reference.views`).

Used only by ``bench/run_all.sh`` (``DJANGO_SETTINGS_MODULE=bench.reference.settings
./serve.sh``): a normal deployment (``config.settings``) has no such URL.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.reference.urls"
