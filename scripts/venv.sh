# Sourced by run.sh and test.sh: a project-local virtual environment, reinstalled only when
# the requirements change.
ensure_venv() {
  local python=${PYTHON:-}
  if [ -z "$python" ]; then
    for candidate in python3.11 python3; do
      if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
    done
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  local stamp=.venv/.requirements-$(cat "$@" requirements.txt | sha256sum | cut -c1-16)
  if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    for req in "$@"; do .venv/bin/python -m pip install --quiet -r "$req"; done
    rm -f .venv/.requirements-*
    touch "$stamp"
  fi
  PY=.venv/bin/python
}
