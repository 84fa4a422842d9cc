"""Schemathesis against /openapi.json: every operation, generated requests, in-process WSGI.

The schema is loaded from the Django WSGI application itself (``config.wsgi``) and
every generated request goes through it: the whole middleware stack, DRF, and the real test
database (PostgreSQL in CI).  Every schemathesis default check runs: no 5xx, status codes
documented, bodies and headers conform to the schema, schema-violating requests refused,
schema-valid requests accepted, auth as documented.

Two passes: the demo configuration (clock controls open, no rate limits) and the production
one (clock controls need a staff token, rate limits on), each against the schema the server
serves in that configuration, so 401 and 429 answers are checked too.  Deterministic:
``derandomize`` and a bounded number of examples per operation.
"""

from __future__ import annotations

import re
import socket

import pytest
import schemathesis
from django.core.cache import cache
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from core.fields import StrictCharField
from core.schema import strict_text_pattern
from tests.servers import mode_settings
from timesync import ntp
from timesync.ntp_server import NtpServer

FUZZ = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
PRODUCTION_FUZZ = settings(FUZZ, max_examples=12)

# What SEATCLOCK_MODE=production itself derives (read from config/settings.py in a fresh
# process), with a lower API rate so that the fuzzer meets 429 too.
PRODUCTION = {
    **{name: value for name, value in mode_settings("production").items() if name != "DEBUG"},
    "SEATCLOCK_RATE_LIMIT_API": "40/min",
    "SEATCLOCK_RATE_LIMIT_RESERVATIONS": "10/min",
}

# Loaded at collection, from the app itself (schemathesis' lazy ``from_fixture`` loader does
# not work with pytest 9); generating the schema needs no database.
demo_schema = schemathesis.openapi.from_wsgi("/openapi.json", application)
with override_settings(**PRODUCTION):
    production_schema = schemathesis.openapi.from_wsgi("/openapi.json", application)


# --------------------------------------------------------------------------- precise checks

# A well-formed request may name a node that does not exist: the spec answers 400
# INVALID_SERVER_ID (not 404), which the stock positive-data check counts as "valid data
# rejected".  Only that domain code is let through: a VALIDATION_ERROR for a schema-valid
# request is still a failure.
DOMAIN_400_CODES = {"INVALID_SERVER_ID"}
# The one documented 5xx that is not the server's fault: the NTP server it was told to query
# failed (DESIGN §3).  Any other 5xx, or a 502 with another code, is a failure.
GATEWAY_ERRORS = {("POST", "/api/time/sync"): {502: "NTP_SYNC_FAILED"}}


def _error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _breaks_the_documented_keep_rule(response, case) -> bool:
    """``reservation_id`` is required with policy ``keep`` and refused otherwise: a cross-field
    rule the field's description states but OpenAPI 3.0 cannot, so a schema-valid body may break
    it.  Only that exact refusal (400, details naming only ``reservation_id``) is let through."""
    if (case.method.upper(), case.operation.path) != ("POST", "/api/reservations/conflicts/{seat_id}/resolve"):
        return False
    body = case.body if isinstance(case.body, dict) else {}
    broken = (body.get("policy") == "keep") != ("reservation_id" in body)
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    return broken and _error_code(response) == "VALIDATION_ERROR" and set(details) == {"reservation_id"}


def positive_data_accepted_or_domain_error(ctx, response, case):
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if response.status_code == 400 and _error_code(response) in DOMAIN_400_CODES:
            return None
        if response.status_code == 400 and _breaks_the_documented_keep_rule(response, case):
            return None
        # The same Idempotency-Key with another body: a rule about earlier requests, which no
        # schema can state (the fuzzer reuses its keys).
        if response.status_code == 422 and _error_code(response) == "IDEMPOTENCY_KEY_REUSED":
            return None
        raise


def no_server_error_but_documented_gateway_errors(ctx, response, case):
    allowed = GATEWAY_ERRORS.get((case.method.upper(), case.operation.path), {})
    if response.status_code in allowed and _error_code(response) == allowed[response.status_code]:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = {
    "excluded_checks": [positive_data_acceptance, not_a_server_error],
    "additional_checks": [positive_data_accepted_or_domain_error, no_server_error_but_documented_gateway_errors],
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def local_ntp(monkeypatch, settings):
    """Every NTP address the fuzzer sends resolves to our own NTP server on loopback: never a
    packet leaves this machine.  Addresses are still parsed (and refused) by the real code."""
    server = NtpServer(host="127.0.0.1", port=0)
    server.start_in_thread()
    monkeypatch.setattr(
        ntp, "_resolve", lambda host, port, deadline, address: (socket.AF_INET, ("127.0.0.1", server.port))
    )
    settings.SEATCLOCK_NTP_TIMEOUT = 0.5
    settings.SEATCLOCK_NTP_SAMPLES = 1
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def production_mode(settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)


# reset_sequences: seat and reservation ids start at 1, so the schema's examples (seat 1,
# reservation 1, the spec's) reach real rows.
db = pytest.mark.django_db(transaction=True, serialized_rollback=True, reset_sequences=True)


@db
@demo_schema.parametrize()
@FUZZ
def test_api_conforms_to_its_schema(case, venue, local_ntp, fresh_counters):
    case.call_and_validate(**CHECKS)


@db
@production_schema.parametrize()
@PRODUCTION_FUZZ
def test_api_conforms_to_its_schema_in_production_mode(case, venue, local_ntp, fresh_counters, production_mode):
    case.call_and_validate(**CHECKS)


# --------------------------------------------------------------------------- the schema itself


def test_every_operation_documents_the_common_errors():
    operations = [
        (method, path, op)
        for path, item in demo_schema.raw_schema["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) == 25  # 20, and the holds (4) and the history (1)
    for method, path, op in operations:
        documented = set(op["responses"])
        assert {"401", "429", "503"} <= documented, (method, path)
        assert op["responses"]["503"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if "requestBody" in op:
            assert {"400", "415"} <= documented, (method, path)
    sync = demo_schema.raw_schema["paths"]["/api/time/sync"]["post"]["responses"]
    assert "502" in sync
    assert "409" in demo_schema.raw_schema["paths"]["/api/reservations"]["post"]["responses"]


def test_clock_controls_security_follows_the_mode():
    demo = demo_schema.raw_schema["paths"]["/api/simulation/set-offset"]["post"]
    closed = production_schema.raw_schema["paths"]["/api/simulation/set-offset"]["post"]
    assert {} in demo["security"]
    assert {} not in closed["security"]
    assert "403" in closed["responses"]


PATTERN_CASES = [(2, 4), (1, 3), (1, 1), (2, 100), (3, None)]


# Spaces that trimming removes, controls (C0, C1: U+0085 NEL, U+009B CSI), format characters
# (U+202E RIGHT-TO-LEFT OVERRIDE, U+200B), line/paragraph separators, private use, unassigned,
# combining marks (not visible: U+0301, U+FE0F) and ordinary letters, one of them astral.
TEXT_ALPHABET = " \u00a0\u3000\x85\x9b\t\x00\x1f\x7f\u202e\u200b\u2028\u2029\ue000\u0378\u0301\ufe0fab\u00e9\U0001f600"


@pytest.mark.parametrize(("low", "high"), PATTERN_CASES)
@given(text=st.text(alphabet=st.sampled_from(TEXT_ALPHABET), max_size=8))
@settings(max_examples=500, derandomize=True, database=None)
def test_documented_text_pattern_is_exactly_what_the_field_accepts(low, high, text):
    """The ``pattern`` the schema gives StrictCharField accepts a string iff the field does."""
    from rest_framework.exceptions import ValidationError

    field = StrictCharField(min_length=low if low > 1 else None, max_length=high)
    try:
        field.run_validation(text)
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(re.fullmatch(strict_text_pattern(low, high), text)) == accepted
