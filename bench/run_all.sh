#!/usr/bin/env bash
# Every load benchmark in one run, against the production setup (serve.sh) on this machine:
#   1. reservation POSTs (wrk, bench/reserve.lua) at 8 and 32 connections on a 260,000-seat venue
#   2. PostgreSQL's own ceiling for the same transaction (pgbench, bench/pgbench_*.sql)
#   3. GET /api/seats (wrk, bench/seats.lua) on 10,000 seats, 30 % reserved
#   4. WebSocket fan-out to 500 subscribers (bench/ws_fanout.py), latency from the 201
# It installs wrk from Debian when missing, creates a fresh database (seatclock_bench), seeds it,
# starts serve.sh, and appends every figure with the load average at that moment to
# bench/results/run-<time>.txt (and prints them).
#
#   bench/run_all.sh                         # everything
#   ONLY="post get" bench/run_all.sh         # some of: post pgbench get ws
# Environment: PG (postgres://postgres@127.0.0.1:5432), BENCH_DB (seatclock_bench),
#   REDIS_URL (redis://127.0.0.1:6379/11), PORT (8100; WebSocket PORT+1), WORKERS, WS_WORKERS,
#   DURATION (15s), SRC (the tree to serve; default this one), LABEL (a note for the results).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SRC=${SRC:-$REPO}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-seatclock_bench}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/11}
PORT=${PORT:-8100}
WS_PORT=$((PORT + 1))
DURATION=${DURATION:-15s}
ONLY=${ONLY:-post pgbench get ws}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
mkdir -p bench/results
OUT=${OUT:-bench/results/run-$(date -u +%Y%m%dT%H%M%SZ).txt}

if ! command -v wrk >/dev/null 2>&1; then
  echo "Installing wrk from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
source ./scripts/venv.sh
ensure_venv requirements.txt
psql "$PG/postgres" -qAtc "select 1" >/dev/null || { echo "PostgreSQL unreachable at $PG" >&2; exit 1; }
.venv/bin/python -c "import redis,sys; redis.Redis.from_url(sys.argv[1]).ping()" "$REDIS_URL"

note() { echo "$*" | tee -a "$OUT"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
busy() { ps -eo pcpu=,args= --sort=-pcpu | awk '$1 > 20 {printf "%s%% %s; ", $1, substr($0, index($0,$2), 60)}'; }

export DATABASE_URL="$PG/$BENCH_DB" REDIS_URL
export SEATCLOCK_MODE=production SECRET_KEY=${SECRET_KEY:-bench-$(head -c 24 /dev/urandom | base64)}
export ALLOWED_HOSTS=127.0.0.1,localhost SECURE_SSL_REDIRECT=false
# The load clients send a random X-Forwarded-For per request: trusting one proxy makes the
# rate limits (10 reservations/min per client) count them as the many clients they stand for.
export NUM_PROXIES=1
export HOST=127.0.0.1 PORT WS_PORT SKIP_INSTALL=1 SEATCLOCK_LOG_LEVEL=WARNING NTP_PORT=${NTP_PORT:-1190}

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$BENCH_DB\""
(cd "$SRC" && $REPO/.venv/bin/python manage.py migrate --noinput -v0)
seed() { (cd "$REPO" && .venv/bin/python bench/seed.py "$@"); }

note "# Seatclock benchmarks $(date -u +%FT%TZ) — $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo "$SRC") ${LABEL:-}"
note "machine: $(nproc) cores; workers: ${WORKERS:-default} gunicorn, ${WS_WORKERS:-default} uvicorn; duration $DURATION"

read -r _ FIRST LAST _ < <(seed --rows 26 --seats-per-row 10000 | tail -n1)
note "venue: 26 x 10000 = 260000 seats (ids $FIRST-$LAST), empty"

"$SRC/serve.sh" > bench/results/serve.log 2>&1 &
SERVE=$!
stop_serve() { kill -TERM "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null || true; }
trap stop_serve EXIT
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  kill -0 "$SERVE" 2>/dev/null || { tail -30 bench/results/serve.log; exit 1; }
  sleep 0.5
done
curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null

run_wrk() {  # label, connections, script, args...
  local label=$1 conns=$2 script=$3; shift 3
  local before; before=$(load)
  local threads=$((conns < 2 ? conns : 2))
  local result; result=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout 10s -s "$script" "http://127.0.0.1:$PORT" -- "$@" | grep '^RESULT ' | cut -c8-)
  note "$label c=$conns | load before $before after $(load) | $result"
  note "   busy: $(busy)"
}

if [[ " $ONLY " == *" post "* ]]; then
  run_wrk "POST /api/reservations" 8 bench/reserve.lua "$FIRST" "$LAST"
  run_wrk "POST /api/reservations" 32 bench/reserve.lua "$FIRST" "$LAST"
fi

if [[ " $ONLY " == *" pgbench "* ]]; then
  for script in lock_insert reservation; do
    for clients in 8 32; do
      before=$(load)
      tps=$("$PGBIN/pgbench" -n -c "$clients" -j 2 -T "${DURATION%s}" -D first="$FIRST" -D last="$LAST" \
        -f "bench/pgbench_$script.sql" "$PG/$BENCH_DB" 2>&1 | grep -E '^(tps|latency average|number of failed)' | tr '\n' ' ')
      note "pgbench $script c=$clients | load before $before after $(load) | $tps"
    done
  done
fi

if [[ " $ONLY " == *" get "* ]]; then
  seed --rows 10 --seats-per-row 1000 --reserved 0.3 | tail -n1 | sed 's/^/venue: 10 x 1000, 30 % reserved: /' | tee -a "$OUT"
  for conns in 1 4; do run_wrk "GET /api/seats" "$conns" bench/seats.lua; done
fi

if [[ " $ONLY " == *" ws "* ]]; then
  [[ " $ONLY " == *" get "* ]] || seed --rows 10 --seats-per-row 1000 --reserved 0.3 >/dev/null
  before=$(load)
  result=$(.venv/bin/python bench/ws_fanout.py --url "http://127.0.0.1:$PORT" --ws-url "ws://127.0.0.1:$WS_PORT" \
    --subscribers 500 --reservations "${WS_RESERVATIONS:-40}" --interval "${WS_INTERVAL:-0.25}" | grep '^RESULT ' | cut -c8-)
  note "WebSocket fan-out 500 subscribers | load before $before after $(load) | $result"
fi
note "(results in $OUT)"
