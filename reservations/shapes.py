"""The wire shapes of reservations, seats and conflicts: one function per entity, used by the
API views, the live events and the seat-map page alike, so an entity looks the same wherever
it appears.  (The serializers in ``api/serializers.py`` validate input and document these
shapes for OpenAPI; the schema tests check that every response matches them.)

A reservation is ``{id, seat_id, customer_name, server_id, created_at, recorded_at}``: the
spec's Reservation plus ``recorded_at`` (true time), everywhere — the seat's holder in
``/api/seats``, lists, the 201, the live events, the page.  Contexts add their own fields
(``conflict_detected`` and ``cancel_token`` on a 201; ``node_offset_seconds`` and ``reason`` in
a conflict).

Every shape carrying a customer's name takes the reader's ``audience``
(``core.permissions.audience_of``): :func:`customer_name` is the one place that decides what a
name looks like — whole for staff (and for everyone in the demo), initials for the public in
production (DESIGN §6).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from core.permissions import Audience
from core.timefmt import iso_utc
from seats.models import Seat

from .models import Hold, Reservation, holder_of
from .selectors import BlindWrite, Conflict, HolderRow, HoldsSeen, true_order_key


def initials(name: str) -> str:
    """``"Jean Dupont"`` → ``"J. D."``, ``"Jean-Pierre Dupont"`` → ``"J.-P. D."``: the first
    character of each word (and of each hyphenated part), upper-cased, with a full stop."""
    words = (
        "-".join(f"{part[0].upper()}." for part in word.split("-") if part) or f"{word[0].upper()}."
        for word in name.split()
    )
    return " ".join(words)


def customer_name(name: str, audience: Audience) -> str:
    """A customer's name as ``audience`` reads it: whole for staff, initials for the public."""
    return name if audience is Audience.STAFF else initials(name)


_name = customer_name  # reservation_values' keyword argument hides the function


def reservation_values(
    *,
    id: int,
    seat_id: int,
    customer_name: str,
    server_id: str,
    created_at: datetime,
    recorded_at: datetime,
    audience: Audience,
) -> dict[str, Any]:
    """The reservation shape from plain values (the fast ``/api/seats`` path reads tuples)."""
    return {
        "id": id,
        "seat_id": seat_id,
        "customer_name": _name(customer_name, audience),
        "server_id": server_id,
        "created_at": iso_utc(created_at),
        "recorded_at": iso_utc(recorded_at),
    }


def reservation(r: Reservation, *, audience: Audience) -> dict[str, Any]:
    """A reservation: ``created_at`` is the writing node's clock, ``recorded_at`` true time."""
    return reservation_values(
        id=r.pk,
        seat_id=r.seat_id,
        customer_name=r.customer_name,
        server_id=r.node_id,
        created_at=r.created_at,
        recorded_at=r.recorded_at,
        audience=audience,
    )


def reservation_created(
    r: Reservation, *, conflict_detected: bool, cancel_token: str, audience: Audience
) -> dict[str, Any]:
    """The 201 of ``POST /api/reservations``: the reservation, ``conflict_detected`` and (shown
    this once, DESIGN §6) the ``cancel_token`` that ``DELETE`` asks for in production."""
    return {**reservation(r, audience=audience), "conflict_detected": conflict_detected, "cancel_token": cancel_token}


def seat(s: Seat, *, audience: Audience) -> dict[str, Any]:
    """The spec's Seat from a seat fetched with ``active_reservations`` (its holder or null)."""
    holder = holder_of(s.active_reservations)  # type: ignore[attr-defined]
    return seat_values(s.pk, s.row, s.number, None if holder is None else reservation(holder, audience=audience))


def seat_values(pk: int, row: str, number: int, holder: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": pk, "row": row, "number": number, "is_available": holder is None, "reservation": holder}


def seat_rows(rows: list[tuple[int, str, int, HolderRow | None]], *, audience: Audience) -> list[dict[str, Any]]:
    """The whole venue from :func:`reservations.selectors.seat_rows` (``GET /api/seats``)."""
    return [
        seat_values(pk, row, number, None if h is None else reservation_values(**vars(h), audience=audience))
        for pk, row, number, h in rows
    ]


# --- Conflicts and their explanation ------------------------------------------------------------


def _clock(value: datetime) -> str:
    """``10:30:05.100``: time of day to the millisecond (UTC, as stored)."""
    return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def blind_write_reason(bw: BlindWrite | None) -> str | None:
    """One sentence, in the active language, saying why a reservation was written although the
    seat was taken (``None`` when the seat was free for it)."""
    if bw is None:
        return None
    writer = bw.writer
    head = _("%(server)s read its clock at %(time)s (offset %(offset)+.3f s)") % {
        "server": writer.node_id,
        "time": _clock(writer.created_at),
        "offset": writer.node_offset,
    }
    parts = [
        _("#%(id)s, stamped %(stamp)s by %(server)s (offset %(offset)+.3f s): %(ahead).3f s in its future")
        % {
            "id": e.pk,
            "stamp": _clock(e.created_at),
            "server": e.node_id,
            "offset": e.node_offset,
            "ahead": (e.created_at - writer.created_at).total_seconds(),
        }
        for e in bw.hidden
    ]
    if bw.seen:
        ids = ", ".join(f"#{e.pk}" for e in bw.seen)
        if parts:
            return _(
                "%(head)s and could not see %(hidden)s; but %(ids)s was stamped at or before its clock: "
                "not explained by clock skew"
            ) % {"head": head, "hidden": "; ".join(parts), "ids": ids}
        return _(
            "%(head)s; %(ids)s was stamped at or before its clock, so it could see it: this double booking "
            "is not explained by clock skew"
        ) % {"head": head, "ids": ids}
    return _("%(head)s and could not see %(hidden)s") % {"head": head, "hidden": "; ".join(parts)}


def conflict_reasons(c: Conflict) -> dict[int, str | None]:
    """Each reservation's reason, by id, in the active language."""
    return {pk: blind_write_reason(bw) for pk, bw in c.blind_writes.items()}


def conflict_explanation(c: Conflict, reasons: dict[int, str | None] | None = None) -> list[str]:
    """One line per blind write (``"#id: reason"``), in true-time order."""
    reasons = conflict_reasons(c) if reasons is None else reasons
    return [f"#{r.pk}: {reasons[r.pk]}" for r in sorted(c.reservations, key=true_order_key) if reasons[r.pk]]


def conflict(c: Conflict, *, audience: Audience) -> dict[str, Any]:
    """A conflict: the spec's ``seat_id``, ``reservations`` and ``conflict_count``, plus the
    holder (``winner_id``), the truly first (``true_first_id``), ``fair`` and the explanation.
    Each reservation also carries its node's offset at write time, its ``reason`` and, as data,
    the ``hidden_ids`` its node could not see (what the page's timeline draws)."""
    reasons = conflict_reasons(c)
    blind = c.blind_writes
    return {
        "seat_id": c.seat_id,
        "reservations": [
            {
                **reservation(r, audience=audience),
                "node_offset_seconds": r.node_offset,
                "reason": reasons[r.pk],
                "hidden_ids": [e.pk for e in bw.hidden] if (bw := blind[r.pk]) else [],
            }
            for r in c.reservations
        ],
        "conflict_count": len(c.reservations),
        "winner_id": c.winner.pk,
        "true_first_id": c.true_first.pk,
        "fair": c.fair,
        "explanation": conflict_explanation(c, reasons),
    }


def conflict_broadcast(c: Conflict, *, audience: Audience) -> dict[str, Any]:
    """:func:`conflict` for the live feed: every subscriber of an audience gets the same message,
    so it is written in the site's default language rather than any one reader's."""
    with translation.override(settings.LANGUAGE_CODE):
        return conflict(c, audience=audience)


def resolved_reservation(r: Reservation, *, audience: Audience) -> dict[str, Any]:
    """A reservation after a conflict resolution: ``active`` (kept) or ``bumped``."""
    return {
        **reservation(r, audience=audience),
        "node_offset_seconds": r.node_offset,
        "status": r.status,
        "bumped_at": None if r.bumped_at is None else iso_utc(r.bumped_at),
    }


# --- Holds --------------------------------------------------------------------------------------


def hold(h: Hold, *, audience: Audience) -> dict[str, Any]:
    """A hold (never its token): ``created_at``/``expires_at`` are the holding node's clock,
    ``recorded_at``/``true_expires_at`` true time; ``status`` active, confirmed or released.
    The customer's name as ``audience`` may read it, as for a reservation."""
    return {
        "id": h.pk,
        "seat_id": h.seat_id,
        "customer_name": customer_name(h.customer_name, audience),
        "server_id": h.node_id,
        "ttl_seconds": h.ttl_seconds,
        "created_at": iso_utc(h.created_at),
        "expires_at": iso_utc(h.expires_at),
        "recorded_at": iso_utc(h.recorded_at),
        "true_expires_at": iso_utc(h.true_expires_at),
        "status": h.status,
        "reservation_id": h.reservation_id,
    }


def hold_created(h: Hold, token: str, *, audience: Audience) -> dict[str, Any]:
    """The 201 of ``POST /api/holds``: the hold and its ``hold_token`` (shown this once; it
    confirms and releases the hold)."""
    return {"hold_token": token, **hold(h, audience=audience)}


def hold_seen(h: Hold, seen: HoldsSeen, *, audience: Audience) -> dict[str, Any]:
    """A hold as every node judges it at one true instant: per node, ``live`` (it sees the hold
    holding the seat), ``visible`` (the hold is not stamped in the node's future: a lagging node
    does not see it yet, so it is not live there whatever the countdown says) and
    ``remaining_seconds`` until it expires on that node's clock (negative: expired that long
    ago) — the countdown each node shows; ``truly_live``: in true time."""
    nodes = {
        server_id: {
            "live": view.hold_live(h),
            "visible": view.sees(h.created_at),
            "remaining_seconds": round(view.hold_remaining(h), 6),
        }
        for server_id, view in seen.views.items()
    }
    truly_live = h.status == Hold.Status.ACTIVE and h.recorded_at <= seen.t_true < h.true_expires_at
    return {**hold(h, audience=audience), "truly_live": truly_live, "nodes": nodes}
