"""ASGI entry point: HTTP through Django, WebSockets through Channels.

HTTP requests run Django's whole middleware chain and the view synchronously, in one worker
thread per request (:class:`SyncChainASGIHandler`), the way the WSGI handler runs them.  Django's
own ASGI handler runs an async-capable middleware asynchronously and hops from the worker thread
back to the server's event loop (``async_to_sync``) at every boundary between a sync-only
middleware (WhiteNoise, ours) and an async one.  A worker thread waiting on such a hop waits for
the event loop; when the server stops (Daphne on SIGTERM/SIGINT cancels the requests in flight,
then stops its loop), those waits never end, and Python's exit, which joins the worker threads,
hangs: Daphne logged "Killed N pending application instances" and stayed alive after load.
With no hop back, an in-flight request's thread finishes its database work on its own and the
process exits.  (Live events from that thread go to the loop with a bounded wait:
``core.events``.)
"""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain loaded in sync mode (as for WSGI) and
    entered once through ``sync_to_async``: one worker thread per request, no hop back to the
    event loop."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)


# Initialise Django (apps, models) before importing anything that touches the ORM; what
# django.core.asgi.get_asgi_application() does, with our handler.
django.setup(set_prefix=False)
django_asgi_app = SyncChainASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from core.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Live updates (/ws/updates, DESIGN §5).  The origin must be an allowed host.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
