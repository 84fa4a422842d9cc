"""Shared plumbing of the clock-control commands: domain errors become exit code 2."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError

USAGE_ERROR = 2  # what argparse exits with on bad arguments; unknown servers/scenarios too


def domain_error(exc: DomainError) -> CommandError:
    details = ""
    if exc.code == "VALIDATION_ERROR" and exc.details:
        details = " " + "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in exc.details.items())
    return CommandError(f"{exc.message}{details} [{exc.code}]", returncode=USAGE_ERROR)


class ServiceCommand(BaseCommand):
    """A command wrapping one service call; ``DomainError`` → ``CommandError`` (exit 2)."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise domain_error(exc) from exc
