#!/usr/bin/env bash
# CPU per reservation POST of two source trees, in interleaved rounds (A B A B …) so both see
# the same machine load: bench/profile_post.py run from each tree (its own code, this venv).
#   bench/ab_cpu.sh TREE_A TREE_B [ROUNDS=4] [REQUESTS=1500]
# Needs DATABASE_URL (a migrated, seeded venue: bench/seed.py) and REDIS_URL; extra settings
# (e.g. DJANGO_SETTINGS_MODULE, SEATCLOCK_RATE_LIMITS) pass through the environment.  The
# profile script is taken from THIS tree and run with each tree first on sys.path.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(cd "$1" && pwd); B=$(cd "$2" && pwd); ROUNDS=${3:-4}; REQUESTS=${4:-1500}
PROFILE=$PWD/bench/profile_post.py
for round in $(seq 1 "$ROUNDS"); do
  for tree in "$A" "$B"; do
    line=$(cd "$tree" && PYTHONPATH="$tree" "$OLDPWD/.venv/bin/python" -W ignore "$PROFILE" --root "$tree" \
      --requests "$REQUESTS" --path "${BENCH_PATH:-/api/reservations}" | grep '^RESULT ' | cut -c8-)
    echo "round $round $(basename "$tree"): $line"
  done
done
