from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from reservation_site.errors import DomainError


class InvalidServerId(DomainError):
    code, status = "INVALID_SERVER_ID", 400

    def __init__(self, server_id: object) -> None:
        super().__init__(
            _("Unknown server id: %(server_id)s") % {"server_id": server_id}, details={"server_id": server_id}
        )


class NtpSyncFailed(DomainError):
    code, status, default_message = "NTP_SYNC_FAILED", 502, gettext_noop("NTP synchronisation failed")


class TimeDriftDetected(DomainError):
    code, status, default_message = "TIME_DRIFT_DETECTED", 503, gettext_noop("Time drift detected")
