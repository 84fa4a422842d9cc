"""Error reports that never show a secret (Django's ``DEFAULT_EXCEPTION_REPORTER_FILTER``).

Django's debug page and its mailed error reports list the settings, the request's META and each
frame's local variables.  Django's own filter hides settings whose *name* looks secret (``KEY``,
``PASS``, ``TOKEN`` …), which misses ``DATABASE_URL`` and ``REDIS_URL`` and the dictionaries
built from them (``DATABASES``, ``CACHES``, ``CHANNEL_LAYERS``), each holding a password when the
URL has one.  :class:`SecretSafeExceptionReporterFilter` also hides those, and removes the password
of any ``scheme://user:password@host`` URL found in any setting, META value or local variable,
whatever its name.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

#: ``scheme://user:password@`` — the password is group 2.
CREDENTIAL_URL = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s'\"]*:)([^@/\s'\"]+)@", re.IGNORECASE)


def scrub_urls(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL replaced by stars."""
    return CREDENTIAL_URL.sub(lambda m: f"{m.group(1)}{SecretSafeExceptionReporterFilter.cleansed_substitute}@", text)


class _Scrubbed:
    """A local variable shown by its scrubbed ``repr`` (the debug page pretty-prints values)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus connection settings and passwords in URLs, everywhere in a report."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE|REDIS|CACHES|CHANNEL_LAYERS|DSN",
        flags=re.IGNORECASE,
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        # str(): a lazy string (the CSRF token in META) passes isinstance but is no str for re.
        return scrub_urls(str(cleansed)) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        variables = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            value = self.cleanse_setting(name, value)
            if type(value) is not str:
                try:
                    text = repr(value)
                except Exception:  # a broken __repr__ is the debug page's business, not a secret
                    text = None
                if text is not None and CREDENTIAL_URL.search(text):
                    value = _Scrubbed(scrub_urls(text))
            variables.append((name, value))
        return variables
