"""Date formats of the admin and the templates (``FORMAT_MODULE_PATH``): instants to the
microsecond, because a 10 s skew, or the NTP step that cures it, is invisible at minute
precision.  Times are UTC (``TIME_ZONE``); the wire format is ``core.timefmt.iso_utc``."""

DATETIME_FORMAT = "Y-m-d H:i:s.u"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
