"""Shared plumbing of the management commands: a domain error becomes sentences on stderr and
exit status 2 (a bad name is followed by the valid ones; a field error names the command's own
argument, ``--rows`` rather than ``rows``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError, error_text

USAGE_ERROR = 2  # what argparse exits with on bad arguments; unknown servers/scenarios too


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
