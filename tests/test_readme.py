"""The README runs from a clean checkout: every file it names exists in the repository, it cites
nothing outside it, and its commands name real manage.py commands."""

from __future__ import annotations

import re

from django.core.management import get_commands

from tests.servers import BASE_DIR

README = (BASE_DIR / "README.md").read_text()


def test_every_file_the_readme_names_exists_in_the_repository():
    linked = set(re.findall(r"\]\(([^)#\s]+)\)", README))
    named = set(re.findall(r"(?<![\w/.])((?:docs|bench|pages|scripts)/[\w./-]+\.\w+)", README))
    assert linked and named
    for path in linked | named:
        assert not path.startswith(("http:", "https:", "/", "..")), path  # nothing outside the repo
        assert (BASE_DIR / path).exists(), path
    for script in re.findall(r"\./(\w+\.sh)", README):
        assert (BASE_DIR / script).exists(), script


def test_the_commands_it_shows_exist():
    shown = set(re.findall(r"manage\.py (\w+)", README))
    assert {"seed_venue", "reset_demo", "apply_scenario", "experiment", "createsuperuser"} <= shown
    assert shown <= set(get_commands()), shown - set(get_commands())
