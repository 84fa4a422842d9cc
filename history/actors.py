"""Who performs an operation (DESIGN §8: anonymous, user, token), travelling with it from the
caller to the service that appends it to the history (pretix passes ``user=``/``api_token=``
down to its services; so do we)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .models import Operation

Kind = Operation.ActorKind

#: A run tag: what ``X-Seatclock-Run`` may carry (anything else is ignored, never stored).
RUN_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
RUN_HEADER = "X-Seatclock-Run"


@dataclass(frozen=True)
class Actor:
    """``kind`` (anonymous, user, token, system), ``name`` (user name, or the command for
    system) and ``run``: the tag of the load run the operation belongs to ('' for none)."""

    kind: str = Kind.SYSTEM
    name: str = ""
    run: str = ""

    @classmethod
    def system(cls, name: str, *, run: str = "") -> Actor:
        """A command, the load generator or the experiment engine."""
        return cls(Kind.SYSTEM, name[:150], run_tag(run))

    @classmethod
    def of_user(cls, user: Any, *, token: bool = False, run: str = "") -> Actor:
        """An authenticated user (``token``: through an API token), else anonymous."""
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(Kind.ANONYMOUS, "", run_tag(run))
        return cls(Kind.TOKEN if token else Kind.USER, str(user.get_username())[:150], run_tag(run))


#: What a service records when its caller names nobody (a shell, a test).
SYSTEM = Actor(Kind.SYSTEM, "")


def run_tag(value: object) -> str:
    """``value`` if it is a usable run tag (1-64 of ``A-Z a-z 0-9 . _ : -``), else ''."""
    return value if isinstance(value, str) and RUN_PATTERN.fullmatch(value) else ""


def actor_of(request: Any) -> Actor:
    """The actor of an API request (DRF ``Request``): token, user or anonymous, and the run tag
    the client declared in ``X-Seatclock-Run`` (the load generator's HTTP transport sends it)."""
    user = getattr(request, "user", None)
    token = getattr(request, "auth", None) is not None
    return Actor.of_user(user, token=token, run=request.headers.get(RUN_HEADER, ""))
