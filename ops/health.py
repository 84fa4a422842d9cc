"""Health endpoints: liveness, readiness (database + migrations), and a detailed report."""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse

from core import events
from core.timefmt import iso_utc
from timesync import clock
from timesync.selectors import node_list


def _stamp() -> str:
    return iso_utc(clock.reference_now())


def _base(status: str) -> dict:
    return {"status": status, "timestamp": _stamp(), "version": settings.SEATCLOCK_VERSION}


def check_database() -> dict:
    """Round trip to the database; ``response_time_ms`` measured on the monotonic clock."""
    started = clock.monotonic()
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "unreachable" to a health check
        connections[DEFAULT_DB_ALIAS].close_if_unusable_or_obsolete()
        return {"status": "unhealthy", "error": exc.__class__.__name__}
    return {"status": "healthy", "response_time_ms": round((clock.monotonic() - started) * 1000, 2)}


def check_migrations() -> dict:
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return {"status": "unhealthy", "error": exc.__class__.__name__}
    if pending:
        return {"status": "unhealthy", "pending": len(pending)}
    return {"status": "healthy"}


def check_ntp() -> dict:
    """How the nodes stand with NTP: the most recent sync and the largest current offset."""
    try:
        nodes = list(node_list())
    except Exception as exc:
        return {"status": "unknown", "error": exc.__class__.__name__}
    now = clock.reference_now()
    syncs = [n.last_sync for n in nodes if n.last_sync]
    worst = max((abs(clock.offset_at(n, now)) for n in nodes), default=0.0)
    unsynced = [n.server_id for n in nodes if not n.ntp_synced]
    return {
        "status": "healthy" if not unsynced else "degraded",
        "last_sync": iso_utc(max(syncs)) if syncs else None,
        "offset_ms": round(worst * 1000, 3),
        "unsynced_servers": unsynced,
        "ntp_server": settings.SEATCLOCK_NTP_SERVER,
    }


def check_channel_layer() -> dict:
    """Can a live event be published right now (Redis reachable, when ``REDIS_URL`` is set)?"""
    layer = events.get_channel_layer()
    backend = type(layer).__name__ if layer is not None else None
    started = clock.monotonic()
    try:
        events.ping()
    except Exception as exc:
        return {"status": "unhealthy", "backend": backend, "error": exc.__class__.__name__}
    return {
        "status": "healthy",
        "backend": backend,
        "response_time_ms": round((clock.monotonic() - started) * 1000, 2),
    }


def health(request):
    return JsonResponse(_base("healthy"))


def health_live(request):
    return JsonResponse(_base("alive"))


def health_ready(request):
    database = check_database()
    migrations = check_migrations() if database["status"] == "healthy" else {"status": "unknown"}
    ready = database["status"] == "healthy" and migrations["status"] == "healthy"
    body = _base("ready" if ready else "not_ready")
    body["checks"] = {"database": database, "migrations": migrations}
    return JsonResponse(body, status=200 if ready else 503)


def health_detailed(request):
    """503 only when the database is down; without live events (channel layer down) the API
    still works, so that is reported as ``degraded`` with 200."""
    database = check_database()
    checks = {"database": database}
    if database["status"] == "healthy":
        checks["ntp_sync"] = check_ntp()
    checks["channel_layer"] = check_channel_layer()
    healthy = database["status"] == "healthy"
    if not healthy:
        status = "unhealthy"
    elif checks["channel_layer"]["status"] != "healthy":
        status = "degraded"
    else:
        status = "healthy"
    body = _base(status)
    body["checks"] = checks
    return JsonResponse(body, status=200 if healthy else 503)
