#!/usr/bin/env bash
# Seatclock in production, one command: several processes sharing PostgreSQL and Redis.
#
#   DATABASE_URL=postgres://… REDIS_URL=redis://… ./serve.sh
#
# What runs (docs/benchmarks.md has the measurements behind the choice):
#   - gunicorn, WORKERS sync WSGI workers, on HOST:PORT: the REST API, the seat-map page, the
#     admin, /health, /metrics and the static files (WhiteNoise, after collectstatic).  One
#     request at a time per worker, so each keeps one persistent PostgreSQL connection
#     (SEATCLOCK_DB_CONN_MAX_AGE, health-checked before reuse).
#   - uvicorn, WS_WORKERS ASGI processes on one shared socket HOST:WS_PORT: /ws/updates.  The
#     page is told that port (SEATCLOCK_WS_PUBLIC_PORT).  Database connections there are per request.
#   - Seatclock's NTP server on udp/NTP_PORT (like run.sh), unless SEATCLOCK_NTP_SERVER points elsewhere.
# Events cross processes through Redis (channel layer), and so do the rate-limit counters.
#
# Environment:
#   DATABASE_URL   required, PostgreSQL (postgres://user@host:port/name)
#   REDIS_URL      required (redis://host:port/db)
#   HOST / PORT    HTTP (default 127.0.0.1:8000);  WS_PORT  WebSocket (default PORT+1)
#   WORKERS        gunicorn workers (default 2 × cores);  WS_WORKERS  uvicorn processes (default 2)
#   SEATCLOCK_MODE production (default here) needs SECRET_KEY and ALLOWED_HOSTS; demo does not
#   NTP_PORT       default 1123;  SEATCLOCK_NTP_SERVER  default 127.0.0.1:NTP_PORT (started here)
#   SKIP_INSTALL=1 use .venv as it is (no pip);  SEED_VENUE  ROWSxSEATS for an empty database (default 10x10);  ACCESS_LOG=1  gunicorn's access log
# Ctrl-C or SIGTERM stops every process it started, gracefully, and waits for them.
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "serve.sh: $*" >&2; exit 2; }
[[ "${DATABASE_URL:-}" == postgres://* || "${DATABASE_URL:-}" == postgresql://* ]] \
  || fail "DATABASE_URL must point at PostgreSQL (postgres://user@host:port/name)"
[[ "${REDIS_URL:-}" == redis://* || "${REDIS_URL:-}" == rediss://* ]] \
  || fail "REDIS_URL is required (redis://host:port/db): the processes share events and rate limits through it"
export SEATCLOCK_MODE=${SEATCLOCK_MODE:-production}
# Never Django's debug pages here, whatever the mode or the environment says (they show settings).
export DEBUG=false
if [ "$SEATCLOCK_MODE" = production ]; then
  [ -n "${SECRET_KEY:-}" ] || fail "SEATCLOCK_MODE=production needs SECRET_KEY"
  [ -n "${ALLOWED_HOSTS:-}" ] || fail "SEATCLOCK_MODE=production needs ALLOWED_HOSTS (comma-separated host names)"
fi

source ./scripts/venv.sh
if [ "${SKIP_INSTALL:-0}" = 1 ] && [ -x .venv/bin/python ]; then
  PY=.venv/bin/python  # the venv is known to be current (tests, images built ahead)
else
  ensure_venv requirements.txt
fi

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
WS_PORT=${WS_PORT:-$((PORT + 1))}
WORKERS=${WORKERS:-$((2 * $(nproc)))}
WS_WORKERS=${WS_WORKERS:-2}
NTP_PORT=${NTP_PORT:-1123}
SEED_VENUE=${SEED_VENUE:-10x10}
export SEATCLOCK_WS_PUBLIC_PORT=$WS_PORT
# /metrics adds up the request metrics of every process (prometheus_client multiprocess mode).
if [ -z "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  PROMETHEUS_MULTIPROC_DIR=$(mktemp -d -t seatclock-metrics.XXXXXX)
  own_metrics_dir=1
fi
export PROMETHEUS_MULTIPROC_DIR
rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
export SEATCLOCK_LOG_LEVEL=${SEATCLOCK_LOG_LEVEL:-WARNING}

# Migrations may run long and wait for locks: no statement or lock timeout for them.
SEATCLOCK_DB_STATEMENT_TIMEOUT=0 SEATCLOCK_DB_LOCK_TIMEOUT=0 $PY manage.py migrate --noinput
$PY manage.py seed_venue --if-empty --rows "${SEED_VENUE%x*}" --seats-per-row "${SEED_VENUE#*x}"
$PY manage.py collectstatic --noinput -v0

pids=()
stopping=0
shutdown() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap - INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # gunicorn and uvicorn finish the requests in flight (graceful timeout 10 s), then exit.
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "${own_metrics_dir:-0}" = 1 ] && rm -rf "$PROMETHEUS_MULTIPROC_DIR"
  return 0
}
trap 'shutdown; exit 0' INT TERM
trap shutdown EXIT

# The servers must ask the NTP server started here, whatever port it got.
export SEATCLOCK_NTP_SERVER=${SEATCLOCK_NTP_SERVER:-127.0.0.1:${NTP_PORT}}
if [ "${SEATCLOCK_NTP_SERVER}" = "127.0.0.1:${NTP_PORT}" ]; then
  $PY manage.py ntpserver --host 127.0.0.1 --port "$NTP_PORT" &
  pids+=($!)
fi

access_log=()
[ "${ACCESS_LOG:-0}" = 1 ] && access_log=(--access-logfile -)
SEATCLOCK_DB_CONN_MAX_AGE=${SEATCLOCK_DB_CONN_MAX_AGE:-600} .venv/bin/gunicorn config.wsgi:application \
  --bind "$HOST:$PORT" --workers "$WORKERS" --worker-class sync --backlog 2048 \
  --graceful-timeout 10 --timeout 30 --log-level warning "${access_log[@]+"${access_log[@]}"}" &
pids+=($!)

SEATCLOCK_DB_CONN_MAX_AGE=0 .venv/bin/uvicorn config.asgi:application \
  --host "$HOST" --port "$WS_PORT" --workers "$WS_WORKERS" --timeout-graceful-shutdown 10 \
  --ws-per-message-deflate false \
  --log-level warning --no-access-log &
pids+=($!)

echo "Seatclock (production serving): http://${HOST}:${PORT}/  WebSocket ws://${HOST}:${WS_PORT}/ws/updates" \
  " (${WORKERS} gunicorn workers, ${WS_WORKERS} uvicorn processes, NTP udp/${NTP_PORT}; Ctrl-C stops)"
set +e
wait -n "${pids[@]}"
status=$?
echo "serve.sh: a server process exited (status $status); stopping the others" >&2
exit "$status"
