"""HTTP for an ASGI server, through Django's WSGI handler: the request is read whole first.

An ASGI server reads every connection on its event loop, so a client that trickles its headers
or its body costs a coroutine, not a worker (gunicorn's sync workers, and Granian's WSGI
threads, are each held by one slow client until it finishes).  This adapter keeps that
property and adds no cost of Django's ASGI path (an async middleware chain and a new thread
per request, which also defeats persistent database connections):

1. the request body is read on the event loop, whole — at most ``max_body`` bytes are kept:
   a larger body is read on and discarded (up to ``drain`` bytes, so that a client still
   sending can read the answer rather than a reset), then the request goes on with no body and
   its real ``Content-Length``, for the application to refuse (Seatclock's
   ``core.middleware.RequestLimitsMiddleware`` answers 413 in the API's envelope); beyond
   ``drain`` bytes the connection is answered 413 at once and closed;
2. only then does the WSGI application (Django's, unchanged) run, in a small pool of threads
   of this process (``threads``; each keeps its own persistent database connection);
3. its response is collected in that thread and sent back on the event loop.

Nothing here knows Seatclock: it is the serving plumbing of ``config/asgi.py`` (measured
against the alternatives in docs/benchmarks.md).  Responses are buffered whole (the largest,
``GET /api/seats`` on 10,000 seats, is about 1 MB).  PEP 3333 environ; ASGI 3 HTTP scope.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async

Environ = dict[str, Any]
WsgiApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]

TOO_LARGE = b'{"error": {"code": "PAYLOAD_TOO_LARGE", "message": "Request body too large", "details": {}}}'


def wsgi_environ(scope: dict[str, Any], body: bytes) -> Environ:
    """The PEP 3333 environ of an ASGI HTTP ``scope`` whose body was read whole."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: Environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0] or "",
        "REMOTE_PORT": str(client[1] or 0),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH":
            continue  # the body was read whole: its real length is set above
        key = name if name == "CONTENT_TYPE" else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def run_wsgi(app: WsgiApp, environ: Environ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Call ``app`` and collect its whole response: (status, headers, body)."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return chunks.append

    chunks: list[bytes] = []
    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return int(status.split(" ", 1)[0]), encoded, b"".join(chunks)


class BufferedWSGI:
    """ASGI HTTP application running a WSGI ``app`` on complete requests (module docstring)."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        threads: int = 1,
        max_body: int = 2_621_440,
        drain: int = 32 * 1024 * 1024,
        loop_for_async_to_sync: bool = False,
    ) -> None:
        """``loop_for_async_to_sync``: run ``app`` through asgiref's ``sync_to_async``, so that
        ``async_to_sync`` inside it runs on this event loop (needed by a channel layer whose
        queues live on it: Channels' in-memory layer).  It costs about 2 ms of CPU per request
        (docs/benchmarks.md), so the default is a plain thread-pool hand-off."""
        self.app = app
        self.max_body = max_body
        self.drain = drain
        self.threads = threads
        self.loop_for_async_to_sync = loop_for_async_to_sync
        self._executor: ThreadPoolExecutor | None = None

    def executor(self) -> ThreadPoolExecutor:
        # Created in the serving process (after any fork), on first use.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="wsgi")
        return self._executor

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before its request was complete: nothing to run
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.drain:
                headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
                await send({"type": "http.response.start", "status": 413, "headers": headers})
                await send({"type": "http.response.body", "body": TOO_LARGE})
                return
            if size <= self.max_body:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if size > self.max_body:  # read and discarded: the application refuses it by its length
            environ = wsgi_environ(scope, b"")
            environ["CONTENT_LENGTH"] = str(size)
        else:
            environ = wsgi_environ(scope, b"".join(chunks))
        if self.loop_for_async_to_sync:
            run = sync_to_async(run_wsgi, thread_sensitive=False, executor=self.executor())
            status, headers, body = await run(self.app, environ)
        else:
            loop = asyncio.get_running_loop()
            status, headers, body = await loop.run_in_executor(self.executor(), run_wsgi, self.app, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
