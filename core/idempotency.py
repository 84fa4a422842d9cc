"""``Idempotency-Key`` on POST endpoints: a retry with the same key gets the first answer, and
the write happens at most once (IETF draft-ietf-httpapi-idempotency-key-header; Stripe's API).

Use it with one line on a DRF view method::

    @idempotent("reservations")
    def post(self, request): ...

Without the header the view runs as before.  With it, the view runs inside one transaction that
first claims the key (a row of :class:`core.models.IdempotencyRecord`) and, before committing,
stores the answer in it.  The answer therefore exists exactly when the write does: if the server
or the database dies after the COMMIT but before the client hears the 201, the retry finds the
stored 201 and replays it (``Idempotent-Replayed: true``) instead of reserving again; if it died
before, nothing was written and the retry runs for real.

- A concurrent request with the same key waits for the first (PostgreSQL's unique index), then
  replays its answer; past the lock timeout it gets 409 ``IDEMPOTENCY_KEY_IN_USE``.
- The same key with a different method, path or body: 422 ``IDEMPOTENCY_KEY_REUSED``.
- Kept: successes and definitive refusals (2xx, 4xx).  Not kept: answers that say "retry"
  (5xx, or any answer with ``Retry-After``, e.g. a lock timeout), so a retry runs again.
- Keys are scoped by endpoint (``scope``) and user (authenticated or anonymous); a record is
  replayed for ``SEATCLOCK_IDEMPOTENCY_TTL`` seconds (a day by default, database time).
- Stored: digests of the key and of the request, and the answer encrypted (Fernet) with a key
  derived from the client's key and ``SECRET_KEY``: whoever reads the table learns neither.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import DurationField, Value
from django.db.models.functions import Now
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rest_framework.response import Response

from .errors import DomainError, ValidationFailed
from .locks import is_lock_timeout
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: 8 to 255 visible ASCII characters; a UUID is a good key.
KEY_PATTERN = re.compile(r"[\x21-\x7e]{8,255}")


class IdempotencyKeyReused(DomainError):
    """422: the key was first used for a different request."""

    code, status = "IDEMPOTENCY_KEY_REUSED", 422
    default_message = gettext_noop("This Idempotency-Key was used for a different request")


class IdempotencyKeyInUse(DomainError):
    """409: a request with the same key is still running (``Retry-After``)."""

    code, status = "IDEMPOTENCY_KEY_IN_USE", 409
    default_message = gettext_noop("A request with this Idempotency-Key is still being processed")
    retry_after = 1


def _secret(purpose: str, scope: str, user: str, key: str) -> bytes:
    message = "\0".join((purpose, scope, user, key)).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()


def _fernet(scope: str, user: str, key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_secret("response", scope, user, key)))


def _request_digest(request: Any) -> str:
    path = request.path.rstrip("/")
    return hashlib.sha256(b"\0".join((request.method.encode(), path.encode(), request.body))).hexdigest()


def _fresh() -> Any:
    return Now() - Value(timedelta(seconds=settings.SEATCLOCK_IDEMPOTENCY_TTL), output_field=DurationField())


def _claim(key_digest: str, request_digest: str) -> tuple[IdempotencyRecord, bool]:
    """The key's record, and whether this request claimed it (must run) or finds an answer."""
    IdempotencyRecord.objects.filter(key_digest=key_digest, created_at__lt=_fresh()).delete()
    try:
        with transaction.atomic():  # a savepoint: a duplicate key must not spoil the transaction
            return IdempotencyRecord.objects.create(key_digest=key_digest, request_digest=request_digest), True
    except IntegrityError:
        # The first request with this key committed (the insert waited for it): replay its answer.
        return IdempotencyRecord.objects.get(key_digest=key_digest), False


def _kept(response: Any) -> bool:
    return 200 <= response.status_code < 500 and "Retry-After" not in response and hasattr(response, "data")


def idempotent(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a DRF view method so that an ``Idempotency-Key`` makes it run at most once per
    key (see the module).  ``scope`` names the endpoint, e.g. ``"reservations"``, ``"holds"``."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def wrapper(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            key = request.headers.get(HEADER)
            if key is None:
                return handler(view, request, *args, **kwargs)
            if not KEY_PATTERN.fullmatch(key):
                message = _("8 to 255 visible ASCII characters, e.g. a UUID.")
                raise ValidationFailed(details={HEADER: [message]})
            user = str(request.user.pk) if getattr(request.user, "is_authenticated", False) else ""
            key_digest = _secret("key", scope, user, key).hex()
            request_digest = _request_digest(request)
            fernet = _fernet(scope, user, key)
            with transaction.atomic():
                try:
                    record, claimed = _claim(key_digest, request_digest)
                except DatabaseError as exc:
                    if is_lock_timeout(exc):
                        raise IdempotencyKeyInUse() from exc
                    raise
                if not claimed:
                    return _replay(record, request_digest, fernet)
                try:
                    response = handler(view, request, *args, **kwargs)
                except Exception as exc:
                    response = view.handle_exception(exc)  # the envelope DRF would answer
                if _kept(response):
                    answer = json.dumps({"status": response.status_code, "data": response.data}).encode()
                    record.status = response.status_code
                    record.response = fernet.encrypt(answer)
                    record.save(update_fields=["status", "response"])
                else:
                    transaction.set_rollback(True)  # "retry" answers are not kept: a retry runs again
            return response

        return wrapper

    return decorate


def _replay(record: IdempotencyRecord, request_digest: str, fernet: Fernet) -> Response:
    if not hmac.compare_digest(record.request_digest, request_digest):
        raise IdempotencyKeyReused()
    try:
        answer = json.loads(fernet.decrypt(bytes(record.response)))
    except InvalidToken:  # SECRET_KEY rotated since: the record cannot be read back
        raise IdempotencyKeyReused() from None
    return Response(answer["data"], status=answer["status"], headers={REPLAYED_HEADER: "true"})
