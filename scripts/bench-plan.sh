#!/usr/bin/env bash
# Times `xzup plan --tier ultra` (release build, whole process) and names a baseline measured
# in the same run on the same file: Compose merely validating it (`config -q`).
#
# Default mode: the bundled upstream-shaped example, median of RUNS.
#   Target (issue 2): median under 50 ms.
# --large [MB]: generated compose files of MB megabytes (default 20), one per shape, each the
#   upstream stack plus bulk of one kind:
#     services  many small services (sidecars with environment, ports, volumes, limits)
#     comments  long comment blocks between the services
#     config    one inline `configs:` file of MB (a `|` block)
#   Prints wall time, CPU time and peak RSS (GNU time) of one plan each, and the same for
#   the baseline on the same file: PyYAML's C loader reading it (the YAML reader Compose v1
#   uses; `docker compose config -q` takes minutes and gigabytes on the services shape).
#   Target (issue 10, defect 8): 20 MB in under 5 s, peak RSS under 100 MB; each shape
#   prints its figures as a ratio of the target. With XZUP_BEFORE_BIN (an xzup binary of
#   before a change, e.g. main's), that binary is measured in the same run on the same
#   files and the ratios after / before are printed too. On a shared machine the CPU time
#   is the steadier figure: wall time includes waiting for a core.
#
# Usage: scripts/bench-plan.sh [RUNS]          (default 30)
#        scripts/bench-plan.sh --large [MB]
# Env:   XZUP_BIN          an xzup binary to use instead of `cargo build --release`
#        XZUP_BEFORE_BIN   (--large) a second xzup binary to compare with, same run
#        XZUP_BENCH_CACHE  where generated files are kept (default ~/.cache/xzup-bench)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."

if [ -n "${XZUP_BIN:-}" ]; then
  bin="$XZUP_BIN"
else
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/xzup"
fi

# --- large files --------------------------------------------------------------------
if [ "${1:-}" = "--large" ]; then
  mb="${2:-20}"
  [ "$mb" -ge 1 ] 2>/dev/null || die "--large takes a size in MB, not \`$mb\`"
  [ -x /usr/bin/time ] || apt_install time
  /usr/bin/time -f %M true >/dev/null 2>&1 || die "/usr/bin/time does not take -f (GNU time needed)"
  cache="${XZUP_BENCH_CACHE:-$HOME/.cache/xzup-bench}/plan-v1-${mb}mb"
  upstream="examples/upstream/docker-compose_all.yml"
  bytes=$((mb * 1024 * 1024))
  # The upstream file up to (not including) its top-level `networks:`; the rest after.
  head_part() { awk '/^networks:/{exit} {print}' "$upstream"; }
  tail_part() { awk '/^networks:/{p=1} p{print}' "$upstream"; }
  generate() {
    local shape="$1" dir="$cache/$1"
    [ -f "$dir/docker-compose_all.yml" ] && return
    mkdir -p "$dir"
    local tmp="$dir/docker-compose_all.yml.tmp"
    case "$shape" in
      services)
        { head_part
          awk -v want="$bytes" 'BEGIN {
            for (i = 0; n < want; i++) {
              s = sprintf("  sidecar-%d:\n    image: busybox:latest\n    container_name: sidecar-%d\n    restart: always\n    environment:\n      - TZ=Asia/Shanghai\n      - WORKER_ID=%d\n    ports:\n      - \"%d:80\"\n    volumes:\n      - ./data/sidecar-%d:/data\n    deploy:\n      resources:\n        limits:\n          cpus: '"'"'1'"'"'\n          memory: 1G\n", i, i, i, 10000 + i % 50000, i)
              printf "%s", s; n += length(s)
            } }'
          tail_part; } > "$tmp" ;;
      comments)
        { head_part
          awk -v want="$bytes" 'BEGIN {
            for (i = 0; n < want; i++) {
              s = sprintf("  # note %d: the sidecar fleet was retired in release %d, kept here for reference\n", i, i % 97)
              printf "%s", s; n += length(s)
            } }'
          tail_part; } > "$tmp" ;;
      config)
        { cat "$upstream"
          printf 'configs:\n  nginx_conf:\n    content: |\n'
          awk -v want="$bytes" 'BEGIN {
            for (i = 0; n < want; i++) {
              s = sprintf("      location /api/%d { proxy_pass http://backend:%d; }\n", i, 8000 + i % 1000)
              printf "%s", s; n += length(s)
            } }'; } > "$tmp" ;;
    esac
    mv "$tmp" "$dir/docker-compose_all.yml"
  }
  # "WALL CPU RSS_KB" of one run of "$@".
  measure() {
    local out; out="$(mktemp)"
    /usr/bin/time -o "$out" -f '%e %U %S %M' "$@" >/dev/null 2>&1 || true
    tail -1 "$out" | awk '{ printf "%s %.2f %s", $1, $2 + $3, $4 }'
    rm -f "$out"
  }
  show() { awk -v w="$1" -v c="$2" -v m="$3" 'BEGIN { printf "%6.2f s wall %6.2f s cpu %7.1f MiB peak", w, c, m / 1024 }'; }
  base=()
  if python3 -c 'import yaml; yaml.CSafeLoader' >/dev/null 2>&1; then
    base=(python3 -c 'import sys, yaml; yaml.load(open(sys.argv[1]), Loader=yaml.CSafeLoader)')
  fi
  echo "xzup plan --tier ultra on generated ${mb} MB files (target: < 5 s, < 100 MiB)"
  for shape in services comments config; do
    generate "$shape"
    dir="$cache/$shape"
    size=$(awk -v b="$(stat -c %s "$dir/docker-compose_all.yml")" 'BEGIN { printf "%.1f", b / 1048576 }')
    "$bin" -C "$dir" plan --tier ultra >/dev/null 2>&1 || true   # warm the page cache
    read -r xw xc xm <<<"$(measure "$bin" -C "$dir" plan --tier ultra)"
    printf '  %-9s %4s MB  xzup plan:   %s\n' "$shape" "$size" "$(show "$xw" "$xc" "$xm")"
    awk -v w="$xw" -v c="$xc" -v m="$xm" 'BEGIN { printf "  %-9s         vs target:   %.2f x 5 s wall, %.2f x 5 s cpu, %.2f x 100 MiB  (%s)\n", "", w / 5, c / 5, m / 1024 / 100, (w < 5 && m / 1024 < 100) ? "met" : "NOT met" }'
    if [ -n "${XZUP_BEFORE_BIN:-}" ]; then
      "$XZUP_BEFORE_BIN" -C "$dir" plan --tier ultra >/dev/null 2>&1 || true
      read -r ow oc om <<<"$(measure "$XZUP_BEFORE_BIN" -C "$dir" plan --tier ultra)"
      printf '  %-9s         %-12s %s\n' "" "before:" "$(show "$ow" "$oc" "$om")"
      awk -v w="$xw" -v c="$xc" -v m="$xm" -v a="$ow" -v b="$oc" -v n="$om" \
        'BEGIN { printf "  %-9s         vs before:   %.2f x the wall time, %.2f x the cpu time, %.2f x the memory\n", "", w / a, c / b, m / n }'
    fi
    if [ ${#base[@]} -gt 0 ]; then
      read -r bw bc bm <<<"$(measure "${base[@]}" "$dir/docker-compose_all.yml")"
      printf '  %-9s         %-12s %s   (PyYAML CSafeLoader)\n' "" "baseline:" "$(show "$bw" "$bc" "$bm")"
      awk -v a="$xw" -v b="$bw" -v m="$xm" -v n="$bm" \
        'BEGIN { printf "  %-9s         ratio:       %.2f x the time, %.2f x the memory\n", "", a / b, m / n }'
    fi
  done
  exit 0
fi

# --- the example, median of RUNS ------------------------------------------------------
runs="${1:-30}"
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
