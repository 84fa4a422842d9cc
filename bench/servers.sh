#!/usr/bin/env bash
# The production server candidates side by side, same app, same database, interleaved rounds:
# reservation POSTs (wrk -c32, bench/reserve.lua) and the slow-client test (bench/slow_clients.py:
# 50 connections trickling headers, then bodies) against each.
#   bench/servers.sh [CANDIDATES…]     default: every candidate below
# WHAT=get measures GET /api/seats (wrk -c4, bench/seats.lua) instead of the POSTs (seed the
# 10,000-seat venue first: bench/seed.py --rows 10 --seats-per-row 1000 --reserved 0.3).
# Environment: as bench/run_all.sh (its database must exist and be seeded with the 260,000-seat
# venue: run_all.sh ONLY=post does that), ROUNDS (3), DURATION (10s), SLOW (1: run the slow test).
# "server CPU" is the CPU time (utime + stime) the candidate's processes used during the wrk run
# per request: steady when other work shares the machine, unlike req/s.
# gunicorn and uvicorn come from requirements-dev.txt, nginx and wrk from Debian (installed when
# missing).  Candidates: gunicorn (4 sync workers, the old serve.sh), granian-wsgi (2 workers × 1 thread),
# granian-asgi (2 workers, config.asgi: HTTP through config.buffered_wsgi, /ws/ on the same port;
# -Nw: N workers, e.g. -4w; -2t: 2 workers × 2 threads),
# nginx-granian (nginx buffering in front of granian-wsgi on a Unix socket), nginx-gunicorn.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-seatclock_bench}
export DATABASE_URL="$PG/$BENCH_DB" REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/11}
PORT=${PORT:-8100}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CANDIDATES=("$@")
[ ${#CANDIDATES[@]} -gt 0 ] || CANDIDATES=(gunicorn granian-wsgi granian-asgi nginx-granian nginx-gunicorn)
export SEATCLOCK_MODE=production SECRET_KEY=${SECRET_KEY:-bench-$(head -c 24 /dev/urandom | base64)}
export ALLOWED_HOSTS=127.0.0.1,localhost SECURE_SSL_REDIRECT=false SEATCLOCK_LOG_LEVEL=WARNING
export SEATCLOCK_DB_CONN_MAX_AGE=600 SEATCLOCK_CHANNEL_PREFIX=${SEATCLOCK_CHANNEL_PREFIX:-bench}
RUN=$(mktemp -d -t seatclock-servers.XXXXXX)
export PROMETHEUS_MULTIPROC_DIR=$RUN/metrics
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" "$RUN/nginx"
if [[ " ${CANDIDATES[*]} " == *" nginx-"* ]] && ! command -v nginx >/dev/null 2>&1; then
  echo "Installing nginx from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
read -r FIRST LAST < <(psql "$DATABASE_URL" -qAtF' ' -c "select min(id), max(id) from seats_seat")
.venv/bin/python manage.py collectstatic --noinput -v0

nginx_conf() {  # upstream
  cat > "$RUN/nginx/nginx.conf" <<CONF
worker_processes 1;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
error_log stderr warn;
pid $RUN/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $RUN/nginx/body; proxy_temp_path $RUN/nginx/proxy;
  fastcgi_temp_path $RUN/nginx/fcgi; uwsgi_temp_path $RUN/nginx/uwsgi; scgi_temp_path $RUN/nginx/scgi;
  client_header_timeout 10s; client_body_timeout 10s;
  upstream app { server $1; keepalive 64; }
  server {
    listen 127.0.0.1:$PORT backlog=2048;
    location / {
      proxy_pass http://app; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
CONF
}

pids=()
start() {
  local name=$1; pids=()
  case $name in
    gunicorn) NUM_PROXIES=1 .venv/bin/gunicorn config.wsgi:application --bind 127.0.0.1:$PORT --workers 4 \
        --worker-class sync --backlog 2048 --log-level warning & pids+=($!) ;;
    granian-wsgi) NUM_PROXIES=1 .venv/bin/granian --interface wsgi --host 127.0.0.1 --port $PORT --workers 2 \
        --blocking-threads 1 --backlog 2048 --log-level warning --no-ws config.wsgi:application & pids+=($!) ;;
    granian-asgi) NUM_PROXIES=1 .venv/bin/granian --interface asginl --host 127.0.0.1 --port $PORT --workers 2 \
        --backlog 2048 --log-level warning config.asgi:application & pids+=($!) ;;
    granian-asgi-*w|granian-asgi-*w-st) local n=${name#granian-asgi-}; n=${n%%w*}  # -3w: 3 workers; -st: single-threaded Rust runtime
      local mode=auto; [[ $name == *-st ]] && mode=st
      NUM_PROXIES=1 .venv/bin/granian --interface asginl --host 127.0.0.1 --port $PORT --workers "$n" \
        --runtime-mode "$mode" --backlog 2048 --log-level warning config.asgi:application & pids+=($!) ;;
    granian-asgi-2t) NUM_PROXIES=1 SEATCLOCK_HTTP_THREADS=2 .venv/bin/granian --interface asginl --host 127.0.0.1 \
        --port $PORT --workers 2 --backlog 2048 --log-level warning config.asgi:application & pids+=($!) ;;
    nginx-granian) NUM_PROXIES=2 .venv/bin/granian --interface wsgi --uds "$RUN/app.sock" --workers 2 \
        --blocking-threads 1 --backlog 2048 --log-level warning --no-ws config.wsgi:application & pids+=($!)
      nginx_conf "unix:$RUN/app.sock"; nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -g 'daemon off;' & pids+=($!) ;;
    nginx-gunicorn) NUM_PROXIES=2 .venv/bin/gunicorn config.wsgi:application --bind "unix:$RUN/app.sock" --workers 4 \
        --worker-class sync --backlog 2048 --log-level warning & pids+=($!)
      nginx_conf "unix:$RUN/app.sock"; nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -g 'daemon off;' & pids+=($!) ;;
    *) echo "unknown candidate $name" >&2; exit 2 ;;
  esac
  for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "$name did not come up" >&2; return 1
}
tree() { local p; for p in "$@"; do echo "$p"; tree $(ps -o pid= --ppid "$p" 2>/dev/null); done; }
# CPU seconds used so far by the candidate's processes (server, workers, nginx): utime + stime.
cpu() { tree "${pids[@]}" | while read -r p; do cut -d' ' -f14-15 "/proc/$p/stat" 2>/dev/null; done \
  | awk -v hz="$(getconf CLK_TCK)" '{t += $1 + $2} END {printf "%.2f", t / hz}'; }
stop() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done; pids=(); rm -f "$RUN/app.sock"; }
trap 'stop; rm -rf "$RUN"' EXIT

for round in $(seq 1 "$ROUNDS"); do
  for name in "${CANDIDATES[@]}"; do
    start "$name" > "$RUN/$name.log" 2>&1 || { tail -20 "$RUN/$name.log"; exit 1; }
    if [ "${WHAT:-post}" = get ]; then load=(-t2 -c4 -s bench/seats.lua "http://127.0.0.1:$PORT"); label="GET /api/seats c=4"
    else load=(-t2 -c32 -s bench/reserve.lua "http://127.0.0.1:$PORT" -- "$FIRST" "$LAST"); label="POST c=32"; fi
    wrk -d2s "${load[@]}" >/dev/null  # warm-up
    before=$(cut -d' ' -f1-3 /proc/loadavg)
    cpu0=$(cpu)
    result=$(wrk -d"$DURATION" --timeout 10s "${load[@]}" | grep '^RESULT ' | cut -c8-)
    cpu1=$(cpu)
    requests=$(sed -E 's/.*"requests":([0-9]+).*/\1/' <<<"$result")
    per=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$requests" 'BEGIN {printf "%.2f", 1000 * (b - a) / n}')
    echo "round $round $name $label | load before $before | server CPU $per ms/request | $result"
    if [ "$round" = 1 ] && [ "${SLOW:-1}" = 1 ]; then
      for mode in headers body; do
        .venv/bin/python bench/slow_clients.py --url "http://127.0.0.1:$PORT" --stalled 50 --mode "$mode" \
          --seconds 4 --timeout 5 | grep -v '^RESULT' | sed "s/^/round $round $name slow: /"
      done
    fi
    stop
  done
done
