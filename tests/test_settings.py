"""Settings: one reader, every variable documented, old names refused, no side effect at import."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from config import settings as seatclock_settings

BASE_DIR = Path(__file__).resolve().parents[1]
READ = re.compile(r"""(?:env\.(?:str|bool|list|int|float)|_bool|_list|_int|_seconds|_number)\(\s*"([A-Z0-9_]+)\"""")


def variables_read() -> set[str]:
    return set(READ.findall((BASE_DIR / "config" / "settings.py").read_text()))


def variables_documented() -> set[str]:
    lines = (BASE_DIR / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEATCLOCK_") and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.SEATCLOCK_NTP_SERVER)"],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_env_example_lists_every_variable_the_settings_read():
    read = variables_read()
    assert len(read) > 25  # the pattern really finds the reads
    assert read == variables_documented()


def test_seatclock_settings_have_the_name_of_their_variable():
    for name in variables_read():
        if name.startswith("SEATCLOCK_"):
            assert hasattr(seatclock_settings, name), name


def test_a_renamed_variable_is_refused_with_its_new_name():
    result = load_settings({"NTP_SERVER": "pool.ntp.org"})
    assert result.returncode != 0
    assert "NTP_SERVER is now SEATCLOCK_NTP_SERVER" in result.stderr
    assert load_settings({"SEATCLOCK_NTP_SERVER": "pool.ntp.org"}).stdout.strip() == "pool.ntp.org"


def test_reading_the_settings_creates_no_folder(tmp_path):
    data, static = tmp_path / "data", tmp_path / "static"
    result = load_settings({"SEATCLOCK_DATA_DIR": str(data), "STATIC_ROOT": str(static)})
    assert result.returncode == 0, result.stderr
    assert not data.exists() and not static.exists()


def test_an_empty_value_means_the_default():
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.SEATCLOCK_RATE_LIMITS, s.ALLOWED_HOSTS)"],
        cwd=BASE_DIR,
        env={**os.environ, "SEATCLOCK_MODE": "production", "SECRET_KEY": "x", "SEATCLOCK_RATE_LIMITS": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "True []", result.stderr
