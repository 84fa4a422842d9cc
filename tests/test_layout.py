"""The suite collects every room's tests: a package with a ``tests/`` folder missing from
``pytest.ini``'s ``testpaths`` would be silently skipped by ``./test.sh`` and CI (history's
tests were, until this check)."""

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_tests_folder_is_collected():
    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini")
    collected = set(ini["pytest"]["testpaths"].split())
    with_tests = {p.parent.name for p in ROOT.glob("*/tests") if p.is_dir() and not p.parent.name.startswith(".")}
    assert with_tests - collected == set()
    assert (ROOT / "tests").is_dir() and "tests" in collected
