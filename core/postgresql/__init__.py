"""Seatclock's PostgreSQL backend (``ENGINE = "core.postgresql"``): see :mod:`core.postgresql.base`."""
