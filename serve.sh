#!/usr/bin/env bash
# Seatclock in production, one command: several processes sharing PostgreSQL and Redis.
#
#   DATABASE_URL=postgres://… REDIS_URL=redis://… ./serve.sh
#
# What runs (docs/benchmarks.md has the measurements behind the choice):
#   - Granian (a Rust HTTP server), WORKERS processes serving config.asgi on HOST:PORT, one
#     origin for everything: the REST API, the seat-map page, /ws/updates, the admin, /health,
#     /metrics and the static files (WhiteNoise, after collectstatic).  Granian reads every
#     connection in Rust and config.buffered_wsgi hands Django only complete requests, so
#     clients that trickle headers or bodies cost a connection each, never a worker.  Django
#     runs in SEATCLOCK_HTTP_THREADS threads per process (default 1), each with one persistent
#     PostgreSQL connection (SEATCLOCK_DB_CONN_MAX_AGE, health-checked before reuse).
#   - Seatclock's NTP server on udp/NTP_PORT (like run.sh), unless SEATCLOCK_NTP_SERVER points elsewhere.
# Events cross processes through Redis (channel layer), and so do the rate-limit counters.
#
# Environment:
#   DATABASE_URL   required, PostgreSQL (postgres://user@host:port/name)
#   REDIS_URL      required (redis://host:port/db)
#   HOST / PORT    HTTP and WebSocket (default 127.0.0.1:8000)
#   WORKERS        Granian worker processes (default: the number of cores; more won and lost by turns
#                  in docs/benchmarks.md)
#   SEATCLOCK_MODE production (default here) needs SECRET_KEY and ALLOWED_HOSTS; demo does not
#   NTP_PORT       default 1123;  SEATCLOCK_NTP_SERVER  default 127.0.0.1:NTP_PORT (started here)
#   SKIP_INSTALL=1 use .venv as it is (no pip);  SEED_VENUE  ROWSxSEATS for an empty database (default 10x10);  ACCESS_LOG=1  Granian's access log
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
WORKERS=${WORKERS:-$(nproc)}
NTP_PORT=${NTP_PORT:-1123}
SEED_VENUE=${SEED_VENUE:-10x10}
export SEATCLOCK_WS_PUBLIC_PORT=0  # the page opens its WebSocket on its own origin
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
  # Granian finishes the requests in flight (its workers are killed after 10 s), then exits.
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

access_log=(--no-access-log)
[ "${ACCESS_LOG:-0}" = 1 ] && access_log=(--access-log)
# asginl: ASGI without the lifespan protocol (Django and Channels do not use it).
SEATCLOCK_DB_CONN_MAX_AGE=${SEATCLOCK_DB_CONN_MAX_AGE:-600} .venv/bin/granian config.asgi:application \
  --interface asginl --host "$HOST" --port "$PORT" --workers "$WORKERS" --backlog 2048 \
  --workers-kill-timeout 10 --log-level warning "${access_log[@]}" &
pids+=($!)

echo "Seatclock (production serving): http://${HOST}:${PORT}/  WebSocket ws://${HOST}:${PORT}/ws/updates" \
  " (Granian, ${WORKERS} workers, NTP udp/${NTP_PORT}; Ctrl-C stops)"
set +e
wait -n "${pids[@]}"
status=$?
echo "serve.sh: a server process exited (status $status); stopping the others" >&2
exit "$status"
