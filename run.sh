#!/usr/bin/env bash
# Seatclock, one command: install into .venv, migrate, create the default venue, start
# Seatclock's own NTP server and serve on http://127.0.0.1:8000 with Daphne.
#   HOST / PORT           where to serve (default 127.0.0.1:8000)
#   DATABASE_URL          PostgreSQL instead of the default SQLite file (var/seatclock.sqlite3)
#   REDIS_URL             Redis channel layer instead of the in-memory one
#   SEATCLOCK_NTP_SERVER            default 127.0.0.1:NTP_PORT (started here); pool.ntp.org for the real pool
#   NTP_PORT              the port of the NTP server started here (default 1123)
#   DEBUG                 Django's debug pages: on here for the local demo (never in production
#                         mode, where settings refuse it); error reports never show secrets
#   SKIP_INSTALL=1        use .venv as it is (no pip)
# Ctrl-C or SIGTERM stops both servers and waits for them to exit.
set -euo pipefail
cd "$(dirname "$0")"
source ./scripts/venv.sh
if [ "${SKIP_INSTALL:-0}" = 1 ] && [ -x .venv/bin/python ]; then
  PY=.venv/bin/python  # the venv is known to be current (tests)
else
  ensure_venv requirements.txt
fi

# The local demo is the one place with debug pages (serve.sh never has them).
if [ "${SEATCLOCK_MODE:-demo}" = demo ]; then
  export DEBUG=${DEBUG:-true}
fi

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
NTP_PORT=${NTP_PORT:-1123}

$PY manage.py migrate --noinput
$PY manage.py seed_venue --if-empty
$PY manage.py collectstatic --noinput -v0

pids=()
stopping=0
shutdown() {
  [ "$stopping" = 1 ] && return 0
  stopping=1
  trap - INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  return 0
}
trap 'shutdown; exit 0' INT TERM
trap shutdown EXIT

# The web server must ask the NTP server started here, whatever port it got.
export SEATCLOCK_NTP_SERVER=${SEATCLOCK_NTP_SERVER:-127.0.0.1:${NTP_PORT}}
if [ "${SEATCLOCK_NTP_SERVER}" = "127.0.0.1:${NTP_PORT}" ]; then
  $PY manage.py ntpserver --host 127.0.0.1 --port "$NTP_PORT" &
  pids+=($!)
fi

echo "Starting Seatclock on http://${HOST}:${PORT}/ ..."
.venv/bin/daphne -b "$HOST" -p "$PORT" config.asgi:application &
daphne=$!
pids+=($daphne)
# The address is announced once Daphne accepts connections, not before (and never if it failed).
probe=$HOST
case "$probe" in 0.0.0.0 | "::" | "[::]") probe=127.0.0.1 ;; esac
(
  for _ in $(seq 1 1200); do
    kill -0 "$daphne" 2>/dev/null || exit 0
    if (exec 3<>"/dev/tcp/${probe}/${PORT}") 2>/dev/null; then
      echo "Seatclock is ready: http://${HOST}:${PORT}/  (API docs: /docs, admin: /admin/, NTP: udp/${NTP_PORT})"
      exit 0
    fi
    sleep 0.1
  done
) &
set +e
wait -n "${pids[@]}"
status=$?
echo "run.sh: a server exited (status $status); stopping the other" >&2
exit "$status"
