"""Nodes synced for real with a chosen error (``sync_source``), through the fake NTP server
fixture of the timesync tests."""

import pytest

from timesync.tests.conftest import fake_ntp  # noqa: F401  (a fixture, used by name)

from .syncing import SyncSource


@pytest.fixture
def sync_source(fake_ntp) -> SyncSource:  # noqa: F811
    """``sync_source.sync("server-2", residual=0.004, dispersion=0.01)``: a real sync whose
    error bound the test chooses."""
    return SyncSource(fake_ntp)
