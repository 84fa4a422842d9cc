#!/usr/bin/env bash
# Seatclock's whole test suite, one command: installs what it needs (Python packages into
# .venv; chrony and chromium from Debian when missing and we are root), then lint, the import
# contract (lint-imports), type checks (mypy), the migration check and pytest.  Extra arguments
# go to pytest.
#   DATABASE_URL   run on PostgreSQL (CI does); default SQLite
set -euo pipefail
cd "$(dirname "$0")"
source ./scripts/venv.sh
ensure_venv requirements-dev.txt

need=()
command -v chronyd >/dev/null 2>&1 || [ -x /usr/sbin/chronyd ] || need+=(chrony)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${need[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: ${need[*]} missing and cannot be installed here; those tests will skip (fail under CI=true)"
  fi
fi

# Lint, then the guardrails (layers, types), then the tests (docs/architecture.md).
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/mypy
$PY manage.py makemigrations --check --dry-run
$PY -m pytest "$@"
