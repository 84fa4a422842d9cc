"""Every write to a node's clock state.

Offsets and drifts are injected by the simulation (API, admin, commands, scenarios); NTP
sync steps a node back.  Each function owns its transaction and row locks and announces the
change after commit (:mod:`timesync.events`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from core import events
from core.errors import DomainError, ValidationFailed
from history.actors import Actor
from history.recording import OperationRecorder, operation

from . import clock, ntp
from .consistency import Mode, consistency_get, mode_get
from .errors import InvalidConsistencyMode, InvalidServerId, NtpSyncFailed
from .events import ClocksChanged, ModeChanged, NodeSynced
from .locks import node_lock, nodes_lock
from .models import ConsistencySettings, ServerNode
from .selectors import node_get

logger = logging.getLogger("seatclock.timesync")


def offset_bound_message() -> str:
    """What an injected offset must be, in the active language (API, admin form, commands)."""
    return _("Must be a finite number of seconds within ±%(max)g.") % {"max": settings.SEATCLOCK_MAX_INJECTED_OFFSET}


def drift_bound_message() -> str:
    """What an injected drift must be, in the active language."""
    return _("Must be a finite number within ±%(max)g ppm.") % {"max": settings.SEATCLOCK_MAX_DRIFT_PPM}


def _validate_offset(offset_seconds: float, drift_ppm: float) -> None:
    errors = offset_errors(offset_seconds, drift_ppm)
    if errors:
        raise ValidationFailed(details=errors)


def offset_errors(offset_seconds: object, drift_ppm: object) -> dict[str, list[str]]:
    """Why ``offset_seconds``/``drift_ppm`` cannot be injected, per field (empty: they can).
    The one check behind the API, the admin's form and the commands."""
    max_offset, max_drift = settings.SEATCLOCK_MAX_INJECTED_OFFSET, settings.SEATCLOCK_MAX_DRIFT_PPM
    errors: dict[str, list[str]] = {}
    if not isinstance(offset_seconds, (int, float)) or isinstance(offset_seconds, bool):
        errors["offset_seconds"] = [_("Must be a number.")]
    elif not math.isfinite(offset_seconds) or abs(offset_seconds) > max_offset:
        errors["offset_seconds"] = [offset_bound_message()]
    if not isinstance(drift_ppm, (int, float)) or isinstance(drift_ppm, bool):
        errors["drift_ppm"] = [_("Must be a number.")]
    elif not math.isfinite(drift_ppm) or abs(drift_ppm) > max_drift:
        errors["drift_ppm"] = [drift_bound_message()]
    return errors


def _apply(node: ServerNode, *, offset_seconds: float, drift_ppm: float) -> dict[str, float]:
    """Set the node's clock; returns what the history keeps (the offset before and after)."""
    now = clock.reference_now()
    previous = clock.offset_at(node, now)
    node.offset_seconds = float(offset_seconds)
    node.drift_ppm = float(drift_ppm)
    node.offset_since = now
    # Injecting an offset or a drift means the node no longer follows NTP; removing it means
    # the node is back on true time.
    node.ntp_synced = node.offset_seconds == 0.0 and node.drift_ppm == 0.0
    node.save(update_fields=["offset_seconds", "drift_ppm", "offset_since", "ntp_synced"])
    return {"previous_offset_seconds": previous, "offset_seconds": node.offset_seconds, "drift_ppm": node.drift_ppm}


def node_offset_set(
    *, server_id: str, offset_seconds: float, drift_ppm: float = 0.0, actor: Actor | None = None
) -> ServerNode:
    """Inject ``offset_seconds`` (and optionally a drift) into a node's clock, from now on.
    Appended to the history (``set_offset``) by ``actor``."""
    _validate_offset(offset_seconds, drift_ppm)
    args = {"server_id": server_id, "offset_seconds": offset_seconds, "drift_ppm": drift_ppm}
    with operation("set_offset", clock.reference_now, actor=actor, args=args) as op, transaction.atomic():
        node = node_lock(server_id)
        op.decided(node=node.pk)
        op.ok(**_apply(node, offset_seconds=offset_seconds, drift_ppm=drift_ppm))
        events.publish(ClocksChanged((node,), at=clock.reference_now()))
    return node


def node_offset_remove(*, server_id: str, actor: Actor | None = None) -> ServerNode:
    """Put a node back on true time: offset and drift 0, ``ntp_synced`` true (history: ``set_offset``)."""
    args = {"server_id": server_id, "offset_seconds": 0.0, "drift_ppm": 0.0}
    with operation("set_offset", clock.reference_now, actor=actor, args=args) as op, transaction.atomic():
        node = node_lock(server_id)
        op.decided(node=node.pk)
        op.ok(**_apply(node, offset_seconds=0.0, drift_ppm=0.0))
        events.publish(ClocksChanged((node,), at=clock.reference_now()))
    return node


def node_offsets_set_many(
    offsets: dict[str, tuple[float, float]], *, actor: Actor | None = None, reason: str = ""
) -> list[ServerNode]:
    """Set every node at once: listed nodes to their (offset, drift), all others to 0.

    Used by scenarios and by "clear offsets"; all nodes are locked in id order so two
    concurrent applications cannot interleave.  Appended to the history as one ``set_offset``
    row per node, ``reason`` (e.g. the scenario) among the arguments.
    """
    for offset, drift in offsets.values():
        _validate_offset(offset, drift)
    args = {"offsets": {k: list(v) for k, v in offsets.items()}, "reason": reason}
    with operation("set_offset", clock.reference_now, actor=actor, args=args) as op, transaction.atomic():
        nodes = nodes_lock()
        known = {node.server_id for node in nodes}
        unknown = sorted(set(offsets) - known)
        if unknown:
            raise InvalidServerId(unknown[0])
        changes = []
        for node in nodes:
            offset, drift = offsets.get(node.server_id, (0.0, 0.0))
            changes.append((node.server_id, _apply(node, offset_seconds=offset, drift_ppm=drift)))
        op.ok_per_node(changes)
        events.publish(ClocksChanged(tuple(nodes), at=clock.reference_now()))
    return nodes


def node_offsets_clear(*, actor: Actor | None = None) -> list[ServerNode]:
    """Every node back on true time."""
    return node_offsets_set_many({}, actor=actor, reason="clear offsets")


@dataclass(frozen=True)
class SyncOutcome:
    node: ServerNode
    result: ntp.NtpResult
    correction: float  # theta_node: how far the node was stepped, seconds
    sync_time: datetime


def node_sync(*, server_id: str, ntp_server: str | None = None, actor: Actor | None = None) -> SyncOutcome:
    """Synchronise a node with a real NTP exchange (DESIGN §3).

    The exchange measures the host's offset ``theta_host`` from ``ntp_server``; the node's
    own offset from it is ``theta_node = theta_host - offset(node)``.  The node is stepped by
    ``theta_node``, so it ends aligned with the NTP server (its residual error is the host's
    real offset).  Its drift rate, if any, keeps running from the new origin, as a real
    oscillator's would.  A reply is used only if it passes every plausibility test of
    :mod:`timesync.ntp` (DESIGN §3; the panic threshold is ``SEATCLOCK_NTP_PANIC_SECONDS``).
    On failure: ``NtpSyncFailed`` (502) whose message and ``details.reason`` name the failed
    test or the network error, and the node is unchanged.

    The network exchange runs before the transaction: no row lock is held while waiting on
    the network.  Appended to the history (``sync``) by ``actor``, a failed exchange included.
    """
    address = ntp_server or settings.SEATCLOCK_NTP_SERVER
    node_get(server_id)  # unknown node: 400 before any network traffic
    args = {"server_id": server_id, "ntp_server": address}
    with operation("sync", clock.reference_now, actor=actor, args=args) as op:
        try:
            result = ntp.query(
                address,
                samples=settings.SEATCLOCK_NTP_SAMPLES,
                timeout=settings.SEATCLOCK_NTP_TIMEOUT,
                panic_seconds=settings.SEATCLOCK_NTP_PANIC_SECONDS,
            )
        except ntp.NtpAddressError as exc:
            raise ValidationFailed(details={"ntp_server": [str(exc)]}) from exc
        except ntp.NtpError as exc:
            op.decided(node=server_id)
            raise NtpSyncFailed(
                _("NTP sync with %(server)s failed: %(reason)s") % {"server": address, "reason": exc},
                details={"server_id": server_id, "ntp_server": address, "reason": exc.reason, "error": str(exc)},
            ) from exc
        return _node_step(server_id, address, result, op)


def _node_step(server_id: str, address: str, result: ntp.NtpResult, op: OperationRecorder) -> SyncOutcome:
    """Step the node to the NTP server's time (the second half of :func:`node_sync`)."""
    with transaction.atomic():
        node = node_lock(server_id)
        op.decided(node=node.pk)
        now = clock.reference_now()
        correction = result.offset - clock.offset_at(node, now)
        node.offset_seconds = result.offset
        node.offset_since = now
        node.ntp_synced = True
        node.last_sync = now
        node.last_sync_offset = correction
        node.last_sync_delay = result.delay
        node.last_sync_stratum = result.stratum
        node.last_sync_error_bound = result.error_bound
        node.last_sync_server = address[:255]
        node.save()
        op.ok(
            correction_seconds=correction,
            offset_seconds=result.offset,
            delay_seconds=result.delay,
            stratum=result.stratum,
            error_bound_seconds=result.error_bound,
        )
        events.publish(NodeSynced(node, correction=correction, delay=result.delay))
        events.publish(ClocksChanged((node,), at=now))
    return SyncOutcome(node=node, result=result, correction=correction, sync_time=now)


@dataclass(frozen=True)
class SyncReport:
    """What happened to one node in :func:`nodes_sync`: an outcome, or the failure."""

    server_id: str
    outcome: SyncOutcome | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is not None

    @property
    def reason(self) -> str:
        """The failure's short machine reason: the NTP test or network error
        (``NtpSyncFailed.details["reason"]``), another domain error's code (``LOCK_TIMEOUT``),
        else the exception's class name."""
        if isinstance(self.error, NtpSyncFailed):
            return str(self.error.details.get("reason", "ntp_error"))
        if isinstance(self.error, DomainError):
            return self.error.code
        return type(self.error).__name__ if self.error is not None else ""

    @property
    def message(self) -> str:
        if isinstance(self.error, NtpSyncFailed):
            return str(self.error.details.get("error", self.error))
        return str(self.error) if self.error is not None else ""


def nodes_sync(
    server_ids: Iterable[str] | None = None,
    *,
    ntp_server: str | None = None,
    stop: threading.Event | None = None,
    actor: Actor | None = None,
) -> list[SyncReport]:
    """Synchronise several nodes one after the other (default: every node, in id order).

    A node's failure, whatever it is (an NTP failure, a database error for that node, …), is
    reported for that node and the others go on (DESIGN §3); unexpected ones are also logged
    with their traceback.  Unknown ids in ``server_ids`` raise ``InvalidServerId`` before any
    node is touched; a bad ``ntp_server`` raises ``ValidationFailed`` (from the first node).
    When syncing every node, a node deleted meanwhile is skipped.  Once ``stop`` is set, no
    further node is started (a daemon asked to stop between two nodes).
    """
    if server_ids is None:
        ids = list(ServerNode.objects.order_by("server_id").values_list("server_id", flat=True))
        skip_missing = True
    else:
        ids = list(dict.fromkeys(server_ids))
        known = set(ServerNode.objects.filter(pk__in=ids).values_list("server_id", flat=True))
        for server_id in ids:
            if server_id not in known:
                raise InvalidServerId(server_id)
        skip_missing = False
    reports: list[SyncReport] = []
    for server_id in ids:
        if stop is not None and stop.is_set():
            break
        try:
            outcome = node_sync(server_id=server_id, ntp_server=ntp_server, actor=actor)
            reports.append(SyncReport(server_id, outcome=outcome))
        except InvalidServerId:
            if not skip_missing:
                raise
        except ValidationFailed:
            raise  # a bad ntp_server address: the same for every node
        except NtpSyncFailed as exc:
            reports.append(SyncReport(server_id, error=exc))
        except Exception as exc:  # one node's trouble never stops the batch
            logger.exception("syncing %s failed", server_id)
            reports.append(SyncReport(server_id, error=exc))
    return reports


def consistency_mode_set(mode: str, *, actor: Actor | None = None) -> str:
    """Switch every node to consistency ``mode``; announces ``consistency_mode_changed``;
    appended to the history (``set_mode``) by ``actor``.

    An unknown mode raises ``InvalidConsistencyMode`` (400 ``VALIDATION_ERROR``), nothing written.
    """
    if not isinstance(mode, str) or mode not in Mode.values:
        raise InvalidConsistencyMode(mode, Mode.values)
    chosen = Mode(mode)
    args = {"mode": chosen.value}
    with operation("set_mode", clock.reference_now, actor=actor, args=args) as op, transaction.atomic():
        previous = mode_get()
        ConsistencySettings.objects.update_or_create(
            pk=1, defaults={"mode": chosen, "updated_at": clock.reference_now()}
        )
        op.decided(mode=chosen)
        op.ok(previous_mode=previous.value, mode=chosen.value)
        events.publish(ModeChanged(consistency_get()))
    return chosen.value
