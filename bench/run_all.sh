#!/usr/bin/env bash
# Every figure of docs/benchmarks.md's targets, in one run, against the production setup
# (serve.sh, production mode, rate limits on) on this machine, with the same-run references:
#   1. reservation POSTs (wrk, bench/reserve.lua) at 32 connections, and the reference view
#      (bench/reference/: a minimal Django view doing one INSERT, served by a second serve.sh
#      the same way) at 32 connections, in ROUNDS interleaved rounds; POSTs at 8 connections once
#   2. PostgreSQL's own ceiling (pgbench): lock the seat + insert, and the rule's statements
#   3. slow clients (bench/slow_clients.py): 50 connections trickling headers, then 50 trickling
#      bodies, while a normal client GETs /api/seats/{id}; its unloaded figure in the same run
#   4. GET /api/seats (wrk, bench/seats.lua) on 10,000 seats, 30 % reserved
#   5. WebSocket fan-out to 500 subscribers (bench/ws_fanout.py), latency from the 201
# then the targets table (bench/summary.py): each figure, its target, met or missed by how much,
# and the ratios to pgbench and to the reference view.
#
# It installs wrk from Debian when missing, creates a fresh database (BENCH_DB), seeds it, starts
# the servers, and writes every figure with the load average at that moment to
# bench/results/run-<time>.txt (the raw results as JSON lines beside it, .jsonl), and prints them.
#
#   bench/run_all.sh                         # everything, ~6 minutes
#   ONLY="post pgbench" bench/run_all.sh     # some of: post pgbench slow get ws
#   ROUNDS=5 DURATION=20s bench/run_all.sh
# Environment: PG (postgres://postgres@127.0.0.1:5432), BENCH_DB (seatclock_bench),
#   REDIS_URL (redis://127.0.0.1:6379/11), CHANNEL_PREFIX (bench), PORT (8100; the reference
#   server PORT+2), NTP_PORT (1190; the reference's +1), WORKERS (serve.sh's default: one per
#   core), ROUNDS (3), DURATION (15s), SRC (the tree to serve; default this one), LABEL (a note).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SRC=${SRC:-$REPO}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-seatclock_bench}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/11}
PORT=${PORT:-8100}
REF_PORT=$((PORT + 2))
NTP_PORT=${NTP_PORT:-1190}
DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-3}
ONLY=${ONLY:-post pgbench slow get ws}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
mkdir -p bench/results
OUT=${OUT:-bench/results/run-$(date -u +%Y%m%dT%H%M%SZ).txt}
JSONL=${OUT%.txt}.jsonl
: > "$JSONL"

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
record() {  # bench label, load before, result json: one line of the .jsonl for bench/summary.py
  .venv/bin/python -c 'import json,sys; print(json.dumps({"bench": sys.argv[1], "load_before": sys.argv[2], "load_after": sys.argv[3], "result": json.loads(sys.argv[4])}))' \
    "$1" "$2" "$(load)" "$3" >> "$JSONL"
}

export DATABASE_URL="$PG/$BENCH_DB" REDIS_URL
export SEATCLOCK_MODE=production SECRET_KEY=${SECRET_KEY:-bench-$(head -c 24 /dev/urandom | base64)}
export ALLOWED_HOSTS=127.0.0.1,localhost SECURE_SSL_REDIRECT=false
export SEATCLOCK_CHANNEL_PREFIX=${CHANNEL_PREFIX:-bench}
# The load clients send a random X-Forwarded-For per request: trusting one proxy makes the
# rate limits (10 reservations/min per client) count them as the many clients they stand for.
export NUM_PROXIES=1
export HOST=127.0.0.1 SKIP_INSTALL=1 SEATCLOCK_LOG_LEVEL=WARNING

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$BENCH_DB\""
(cd "$SRC" && $REPO/.venv/bin/python manage.py migrate --noinput -v0)
# Seeding replaces a 260,000-seat venue in one transaction: no statement timeout for it.
seed() { (cd "$REPO" && SEATCLOCK_DB_STATEMENT_TIMEOUT=0 .venv/bin/python bench/seed.py "$@"); }

note "# Seatclock benchmarks $(date -u +%FT%TZ) — $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo "$SRC") ${LABEL:-}"
note "machine: $(nproc) cores; serve.sh workers: ${WORKERS:-default}; duration $DURATION; rounds $ROUNDS; load $(load)"

read -r _ FIRST LAST _ < <(seed --rows 26 --seats-per-row 10000 | tail -n1)
note "venue: 26 x 10000 = 260000 seats (ids $FIRST-$LAST), empty"

servers=()
stop_servers() { for pid in "${servers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
                 for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done; servers=(); }
trap stop_servers EXIT
start_server() {  # port, ntp port, log, extra env…
  local port=$1 ntp=$2 log=$3; shift 3
  env PORT="$port" NTP_PORT="$ntp" "$@" "$SRC/serve.sh" > "$log" 2>&1 &
  servers+=($!)
  local pid=$!
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { tail -30 "$log"; exit 1; }
    sleep 0.5
  done
  curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null
}
start_server "$PORT" "$NTP_PORT" bench/results/serve.log
# The reference view, served the same way (its own settings module: no such URL otherwise).
if [[ " $ONLY " == *" post "* ]]; then
  start_server "$REF_PORT" $((NTP_PORT + 1)) bench/results/serve-reference.log DJANGO_SETTINGS_MODULE=bench.reference.settings
fi

tree() { local p; for p in "$@"; do echo "$p"; tree $(ps -o pid= --ppid "$p" 2>/dev/null); done; }
# CPU seconds used so far (utime + stime) by the processes whose ids come on stdin.
cpu_sum() { while read -r p; do cut -d' ' -f14-15 "/proc/$p/stat" 2>/dev/null; done \
  | awk -v hz="$(getconf CLK_TCK)" '{t += $1 + $2} END {printf "%.3f", t / hz}'; }
# ... by a server (serve.sh and everything it started);
cpu() { tree "$1" | cpu_sum; }
# ... by every process of PostgreSQL's user (backends and background workers) or of Redis; and
# the whole machine's busy time (/proc/stat: user, nice, system, irq, softirq): where a POST's
# time goes, machine-wide.
cpu_of() { pgrep "$@" | cpu_sum; }
machine_busy() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {printf "%.3f", ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat; }

run_wrk() {  # bench label, port, connections, script, args...
  local label=$1 port=$2 conns=$3 script=$4; shift 4
  local before; before=$(load)
  local threads=$((conns < 2 ? conns : 2))
  local server=${servers[0]}; [ "$port" = "$REF_PORT" ] && server=${servers[1]}
  local cpu0 pg0 redis0 busy0; cpu0=$(cpu "$server"); pg0=$(cpu_of -u postgres); redis0=$(cpu_of -x redis-server)
  busy0=$(machine_busy)
  local result; result=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout 10s -s "$script" "http://127.0.0.1:$port" -- "$@" | grep '^RESULT ' | cut -c8-)
  # The server's CPU per request: steady when other work shares the machine, unlike req/s.
  local n; n=$(sed -E 's/.*"requests":([0-9]+).*/\1/' <<<"$result")
  per() { awk -v a="$1" -v b="$2" -v n="$n" 'BEGIN {printf "%.3f", n ? 1000 * (b - a) / n : 0}'; }
  result="${result%\}},\"server_cpu_ms_per_request\":$(per "$cpu0" "$(cpu "$server")")"
  result+=",\"postgres_cpu_ms_per_request\":$(per "$pg0" "$(cpu_of -u postgres)")"
  result+=",\"redis_cpu_ms_per_request\":$(per "$redis0" "$(cpu_of -x redis-server)")"
  result+=",\"machine_busy_ms_per_request\":$(per "$busy0" "$(machine_busy)")}"
  record "$label" "$before" "$result"
  note "$label | load before $before after $(load) | $result"
  note "   busy: $(busy)"
}

if [[ " $ONLY " == *" post "* ]]; then
  # Warm both servers up (first requests load code, open connections).
  wrk -t2 -c32 -d3s -s bench/reserve.lua "http://127.0.0.1:$PORT" -- "$FIRST" "$LAST" >/dev/null
  wrk -t2 -c32 -d3s -s bench/reserve.lua "http://127.0.0.1:$REF_PORT" -- "$FIRST" "$LAST" /bench/insert >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    run_wrk "post c=32" "$PORT" 32 bench/reserve.lua "$FIRST" "$LAST"
    run_wrk "reference c=32" "$REF_PORT" 32 bench/reserve.lua "$FIRST" "$LAST" /bench/insert
  done
  run_wrk "post c=8" "$PORT" 8 bench/reserve.lua "$FIRST" "$LAST"
  # The reference server is not needed any more: its idle processes would only take memory.
  kill -TERM "${servers[1]}" 2>/dev/null && wait "${servers[1]}" 2>/dev/null || true
  servers=("${servers[0]}")
fi

if [[ " $ONLY " == *" pgbench "* ]]; then
  # reservation (5 round trips) twice: planned at every execution (-M simple, as psql would send
  # it) and prepared (-M prepared: the plans kept, as reservations.access prepares its statements).
  for run in lock_insert reservation reservation:prepared reservation_own; do
    script=${run%%:*}; mode=simple; label=$script
    [[ "$run" == *:prepared ]] && mode=prepared && label=${script}_prepared
    for clients in 8 32; do
      before=$(load)
      out=$("$PGBIN/pgbench" -n -M "$mode" -c "$clients" -j 2 -T "${DURATION%s}" -D first="$FIRST" -D last="$LAST" \
        -f "bench/pgbench_$script.sql" "$PG/$BENCH_DB" 2>&1 || true)
      grep -q '^pgbench: error' <<<"$out" && note "pgbench $label failed: $(grep -m3 'error' <<<"$out" | tr '\n' ' ')"
      tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$out")
      latency=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' <<<"$out")
      failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' <<<"$out")
      result="{\"tps\":${tps:-0},\"latency_avg_ms\":${latency:-0},\"failed\":${failed:-0}}"
      record "pgbench $label c=$clients" "$before" "$result"
      note "pgbench $label c=$clients | load before $before after $(load) | $result"
    done
  done
fi

if [[ " $ONLY " == *" slow "* ]]; then
  for mode in headers body; do
    before=$(load)
    result=$(.venv/bin/python bench/slow_clients.py --url "http://127.0.0.1:$PORT" --path "/api/seats/$FIRST" \
      --stalled 50 --mode "$mode" --seconds "${DURATION%s}" | grep '^RESULT ' | cut -c8-)
    record "slow $mode" "$before" "$result"
    note "50 stalled connections ($mode) | load before $before after $(load) | $result"
  done
fi

if [[ " $ONLY " == *" get "* ]]; then
  seed --rows 10 --seats-per-row 1000 --reserved 0.3 | tail -n1 | sed 's/^/venue: 10 x 1000, 30 % reserved: /' | tee -a "$OUT"
  for conns in 1 4; do run_wrk "get c=$conns" "$PORT" "$conns" bench/seats.lua; done
fi

if [[ " $ONLY " == *" ws "* ]]; then
  [[ " $ONLY " == *" get "* ]] || seed --rows 10 --seats-per-row 1000 --reserved 0.3 >/dev/null
  before=$(load)
  result=$(.venv/bin/python bench/ws_fanout.py --url "http://127.0.0.1:$PORT" \
    --subscribers 500 --reservations "${WS_RESERVATIONS:-40}" --interval "${WS_INTERVAL:-0.25}" | grep '^RESULT ' | cut -c8-)
  record "ws 500" "$before" "$result"
  note "WebSocket fan-out 500 subscribers | load before $before after $(load) | $result"
fi
.venv/bin/python bench/summary.py "$JSONL" | tee -a "$OUT"
note "(results in $OUT, raw in $JSONL)"
