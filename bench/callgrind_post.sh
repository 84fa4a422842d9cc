#!/usr/bin/env bash
# Instructions per reservation POST (valgrind --tool=callgrind), in process: repeatable to a
# fraction of a percent even while other work shares the machine, unlike CPU or wall time.
# For each tree: bench/profile_post.py with N1 and then N2 requests; the difference of the
# instruction counts over N2 - N1 is the cost of one request (start-up and warm-up cancel out).
# Database and Redis work is not counted (other processes); the client side of it is.  Seats
# are random (a 409 now and then, as in the wrk runs): keep the venue large (bench/seed.py).
#   bench/callgrind_post.sh TREE [TREE…]      (N1=20 N2=220 by default; ~3 minutes per tree)
# Needs DATABASE_URL (a seeded venue) and REDIS_URL, as bench/profile_post.py.
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-20}; N2=${N2:-220}
PROFILE=$PWD/bench/profile_post.py; PY=${PY:-$PWD/.venv/bin/python}  # PY: another venv (e.g. without an accelerator)
OUTDIR=$(mktemp -d -t seatclock-callgrind.XXXXXX)
trap 'rm -rf "$OUTDIR"' EXIT
instructions() {  # tree, requests
  (cd "$1" && valgrind --tool=callgrind --callgrind-out-file="$OUTDIR/cg.%p" "$PY" -W ignore "$PROFILE" --root "$1" \
    --requests "$2" --warmup 10 --path "${BENCH_PATH:-/api/reservations}" 2>&1) | sed -nE 's/.*Collected : ([0-9]+).*/\1/p' | tail -n1
}
for tree in "$@"; do
  tree=$(cd "$tree" && pwd)
  a=$(instructions "$tree" "$N1"); b=$(instructions "$tree" "$N2")
  echo "$(basename "$tree"): $(( (b - a) / (N2 - N1) )) instructions per request (N=$N1: $a, N=$N2: $b; load $(cut -d' ' -f1-3 /proc/loadavg))"
done
