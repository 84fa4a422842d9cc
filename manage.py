#!/usr/bin/env python
"""Django's command-line utility for Seatclock."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from core.commands import quiet_when_stdout_closes

    with quiet_when_stdout_closes():  # `manage.py export_history | head -1`: no traceback
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
