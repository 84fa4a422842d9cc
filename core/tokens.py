"""Secrets handed to a client once and stored only as a digest (pretix's order secret, Django's
password reset tokens): a reservation's cancel token.

A token is 32 random bytes (``secrets.token_urlsafe``, 43 characters); the database keeps its
SHA-256 digest, so a leaked table cannot cancel anything.  A plain digest suffices: a 256-bit
random token cannot be guessed from it (a password, with its few bits, would need a slow hash).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def digest(token: str) -> str:
    """The hex SHA-256 digest of ``token`` (64 characters), as stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh ``(token, digest)``: give the token to the client once, store the digest."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def matches(token: str | None, stored_digest: str) -> bool:
    """Whether ``token`` is the one whose digest was stored (constant-time); never for an empty
    stored digest (a row written before tokens existed) or a missing token."""
    if not token or not stored_digest:
        return False
    return hmac.compare_digest(digest(token), stored_digest)
