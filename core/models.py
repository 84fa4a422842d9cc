"""The ground floor's only table: the answers kept for ``Idempotency-Key`` (core.idempotency)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an ``Idempotency-Key``, written in the same
    transaction as the request's own writes (so it exists exactly when they do).

    ``key_digest`` identifies (scope, user, key) without storing the key; ``response`` is the
    answer encrypted with a key derived from the client's key, so the table alone reveals
    neither the keys nor the answers (a 201's cancel token among them).
    """

    key_digest = models.CharField(max_length=64, unique=True)
    request_digest = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status = models.PositiveSmallIntegerField(default=0, help_text="HTTP status of the kept answer.")
    response = models.BinaryField(default=b"", help_text="The answer, encrypted with the client's key.")
    created_at = models.DateTimeField(db_default=Now(), help_text="Database time; expires after the TTL.")

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.key_digest[:12]}… {self.status}"
