"""The same instants in French: to the microsecond (see ``config/formats/en/formats.py``)."""

DATETIME_FORMAT = "Y-m-d H:i:s.u"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
