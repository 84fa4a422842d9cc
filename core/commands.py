"""Shared plumbing of the management commands: a domain error becomes sentences on stderr and
exit status 2 (a bad name is followed by the valid ones; a field error names the command's own
argument, ``--rows`` rather than ``rows``); argument types that refuse junk, signs and huge values
with one sentence (argparse then exits 2); and the entry point's quiet exit when the reader of
standard output has gone (``manage.py export_history | head -1``).

The rule, for every command: bad input is one sentence on stderr and exit status 2, never a
traceback (README, "manage.py").
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError, error_text
from core.ids import MAX_ID, parse_id, shown

USAGE_ERROR = 2  # what argparse exits with on bad arguments; unknown servers/scenarios too

#: Exit status when standard output's reader has gone: what a shell reports for a Unix tool
#: killed by SIGPIPE (``yes | head -1; echo ${PIPESTATUS[0]}`` prints 141).
CLOSED_STDOUT = 128 + signal.SIGPIPE


def domain_error(
    exc: DomainError, *, labels: Mapping[str, str] | None = None, valid: Iterable[str] | None = None
) -> CommandError:
    """``exc`` as a ``CommandError`` (exit 2): its sentences (:func:`core.errors.error_text`, fields
    renamed by ``labels``), then ``valid`` names if given, then the code in brackets."""
    text = error_text(exc, labels=labels)
    names = list(valid) if valid is not None else []
    if names:
        text += f" Valid names: {', '.join(names)}."
    return CommandError(f"{text} [{exc.code}]", returncode=USAGE_ERROR)


class ServiceCommand(BaseCommand):
    """A command wrapping one service call; ``DomainError`` → ``CommandError`` (exit 2).

    ``field_labels`` renames a service's fields after the command's arguments
    (``{"rows": "--rows"}``); ``valid_names`` maps an error code to a function listing the valid
    names (``{"SCENARIO_NOT_FOUND": scenario_names}``), printed after that error.
    """

    field_labels: ClassVar[Mapping[str, str]] = {}
    valid_names: ClassVar[Mapping[str, Callable[[], Iterable[str]]]] = {}

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            lister = self.valid_names.get(exc.code)
            raise domain_error(exc, labels=self.field_labels, valid=lister() if lister else None) from exc


def database_id(value: str) -> int:
    """An argparse ``type``: a database id 1 … 2**63-1 in ASCII digits (:func:`core.ids.parse_id`).

    Raises ``argparse.ArgumentTypeError`` (exit 2, one sentence) for ``-1``, ``abc`` or
    ``99999999999999999999999`` – never a value the database cannot hold (``OverflowError``)."""
    pk = parse_id(value)
    if pk is None:
        raise argparse.ArgumentTypeError(f"must be an id from 1 to {MAX_ID}, not {shown(value)!r}")
    return pk


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a decimal integer in ``low … high`` (inclusive), else one sentence
    (``must be an integer from 1 to 10000, not '1e20'``)."""

    def parse(value: str) -> int:
        digits = value.strip().removeprefix("-").removeprefix("+")
        number = int(value, 10) if digits.isascii() and digits.isdigit() and len(digits) <= 30 else None
        if number is None or not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}, not {shown(value)!r}")
        return number

    parse.__name__ = f"integer {low}-{high}"
    return parse


def number_in(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in ``low … high`` (``low`` excluded if ``low_open``),
    else one sentence (``must be a number above 0 and at most 86400, not 'nan'``)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        above = number > low if low_open else number >= low
        if not (math.isfinite(number) and above and number <= high):
            bound = f"above {low:g}" if low_open else f"from {low:g}"
            joint = "and at most" if low_open else "to"
            raise argparse.ArgumentTypeError(f"must be a number {bound} {joint} {high:g}, not {shown(value)!r}")
        return number

    parse.__name__ = f"number {low:g}-{high:g}"
    return parse


def _stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (``poll`` reports POLLERR on
    the writing end then, Linux ``pipe_poll``); ``True`` where ``poll`` is missing."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.__stdout__.fileno() if sys.__stdout__ else 1, 0)
        return any(event & (select.POLLERR | select.POLLHUP) for _fd, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


@contextmanager
def quiet_when_stdout_closes() -> Iterator[None]:
    """Around a command-line entry point: when the reader of standard output goes away
    (``manage.py show_clocks | head -3``), stop quietly with status :data:`CLOSED_STDOUT` instead
    of a ``BrokenPipeError`` traceback (Python docs, "Note on SIGPIPE": standard output is pointed
    at ``/dev/null`` so the flush at exit cannot fail again).  A broken pipe elsewhere (a socket)
    still raises.  SIGPIPE keeps Python's disposition (ignored): sockets must not kill the process.
    """
    try:
        yield
        sys.stdout.flush()  # inside the guard: a piped stdout is block-buffered
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(CLOSED_STDOUT)
