"""ASGI entry point: HTTP through Django's WSGI handler on complete requests
(:mod:`config.buffered_wsgi`: slow clients cost a coroutine, not a worker), WebSockets through
Channels.  serve.sh (Granian) and run.sh (Daphne) serve this one application: the page, the
API and ``/ws/`` on one origin.

The WSGI handler runs the whole middleware chain and the view in one worker thread, with no hop
back to the server's event loop.  (Django's own ASGI handler hops back at every boundary between
a sync-only and an async middleware; when Daphne stops on SIGTERM/SIGINT it cancels requests and
stops its loop, those waits never end and the process never exits — "Killed N pending
application instances", issue 11.  Live events from a worker thread reach the loop with a
bounded wait: ``core.events``.)"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Initialise Django (apps, models) before importing anything that touches the ORM.
django_wsgi_app = get_wsgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from config.buffered_wsgi import BufferedWSGI  # noqa: E402
from core.middleware import DRAIN_LIMIT  # noqa: E402
from core.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BufferedWSGI(
            django_wsgi_app,
            threads=settings.SEATCLOCK_HTTP_THREADS,
            max_body=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            drain=DRAIN_LIMIT,
            # The in-memory channel layer (run.sh's demo, one process) keeps its queues on this
            # event loop: live events published by a view must be sent from it.
            loop_for_async_to_sync=settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer"),
        ),
        # Live updates (/ws/updates, DESIGN §5).  The origin must be an allowed host.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# What is loaded by now (Django, the apps, the URLconf, Channels) lives as long as the process:
# out of the garbage collector's sight, a full collection no longer walks its ~130,000 objects.
# GET /api/seats (10,000 seats) allocates enough to trigger several a second; each took up to
# 72 ms (15 ms per request on average), 4.5 ms frozen (docs/benchmarks.md).  Python's gc.freeze.
get_resolver().url_patterns  # noqa: B018 - import every view now, so that it is frozen too
gc.freeze()
