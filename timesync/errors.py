from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.errors import DomainError, ValidationFailed
from core.ids import shown


class InvalidServerId(DomainError):
    code, status = "INVALID_SERVER_ID", 400

    def __init__(self, server_id: object) -> None:
        super().__init__(
            _("Unknown server id: %(server_id)s") % {"server_id": shown(server_id)},
            # Echoed as given (JSON escapes control characters), but never a 5,000-character segment.
            details={"server_id": server_id[:64] if isinstance(server_id, str) else server_id},
        )


class NtpSyncFailed(DomainError):
    code, status, default_message = "NTP_SYNC_FAILED", 502, gettext_noop("NTP synchronisation failed")


class TimeDriftDetected(DomainError):
    code, status, default_message = "TIME_DRIFT_DETECTED", 503, gettext_noop("Time drift detected")


class NodeFenced(TimeDriftDetected):
    """``bounded`` mode refuses a write through a node too far from the median clock (503)."""

    def __init__(self, *, server_id: str, offset_seconds: float, median_seconds: float, limit_seconds: float) -> None:
        deviation = offset_seconds - median_seconds
        super().__init__(
            _(
                "%(server_id)s is fenced: its clock is %(deviation).3f s from the median of the nodes, "
                "beyond the %(limit).3f s allowed; sync it to write again"
            )
            % {"server_id": server_id, "deviation": deviation, "limit": limit_seconds},
            details={
                "server_id": server_id,
                "offset_seconds": offset_seconds,
                "median_offset_seconds": median_seconds,
                "deviation_seconds": deviation,
                "limit_seconds": limit_seconds,
            },
        )


class NodeUncertain(TimeDriftDetected):
    """``commit_wait`` refuses a write through a node whose uncertainty ε is unbounded (it never
    synced) or above the limit (503)."""

    def __init__(self, *, server_id: str, uncertainty_seconds: float | None, limit_seconds: float) -> None:
        if uncertainty_seconds is None:
            message = _(
                "%(server_id)s cannot write in commit_wait mode: it has never synced, so nothing bounds "
                "its clock's error; sync it to write"
            ) % {"server_id": server_id}
        else:
            message = _(
                "%(server_id)s cannot write in commit_wait mode: its uncertainty is %(epsilon).3f s, beyond "
                "the %(limit).3f s allowed; sync it to write again"
            ) % {"server_id": server_id, "epsilon": uncertainty_seconds, "limit": limit_seconds}
        super().__init__(
            message,
            details={
                "server_id": server_id,
                "uncertainty_seconds": uncertainty_seconds,
                "limit_seconds": limit_seconds,
            },
        )


class InvalidConsistencyMode(ValidationFailed):
    """Not a consistency mode (400 VALIDATION_ERROR, field ``mode``)."""

    def __init__(self, mode: object, choices: list[str]) -> None:
        message = _("%(mode)s is not a consistency mode: use %(choices)s.") % {
            "mode": repr(mode),
            "choices": ", ".join(choices),
        }
        super().__init__(message, details={"mode": [message]})
