#!/usr/bin/env bash
# Times `xzup plan --tier ultra` on the bundled upstream-shaped example (release build),
# whole process, and names a baseline measured in the same run on the same file:
# `docker-compose config -q` (Compose merely validating the file).
# Target (issue 2): median under 50 ms.
# Usage: scripts/bench-plan.sh [RUNS]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/xzup"
example="examples/upstream"

# Median wall time in milliseconds of running "$@" $runs times.
median_ms() {
  local samples=()
  for ((i = 0; i < runs; i++)); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    samples+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'
}

"$bin" -C "$example" plan --tier ultra >/dev/null   # warm the page cache
xzup_ms=$(median_ms "$bin" -C "$example" plan --tier ultra)
echo "xzup plan --tier ultra (median of $runs): ${xzup_ms} ms   (target: < 50 ms)"
if command -v docker-compose >/dev/null; then
  base_ms=$(median_ms docker-compose -f "$example/docker-compose_all.yml" config -q)
  echo "baseline: docker-compose config -q (median of $runs): ${base_ms} ms"
  awk -v a="$xzup_ms" -v b="$base_ms" 'BEGIN { printf "ratio xzup plan / docker-compose config: %.2f\n", a / b }'
fi
