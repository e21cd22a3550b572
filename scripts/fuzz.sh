#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ one after the other, each for a bounded time, one
# process each (the machine's cores are shared): the compose render, the tiers reader
# (tiers file and xzup.toml), the `docker stats` parser, the archive reader and the
# journal reader (src/fuzzing.rs says what each checks). Not run in CI.
#
# Usage: scripts/fuzz.sh [--time SECS] [TARGET...]   (default 60 s each, all targets)
#
# Installs cargo-fuzz when missing. Only a stable toolchain is needed: the nightly flags
# cargo-fuzz passes are allowed with RUSTC_BOOTSTRAP=1. Built without a sanitizer (safe
# Rust: a panic is the finding) and with debug assertions (overflow checks).
# The corpus grows in fuzz/corpus/TARGET (seeded from the repository's own files), a
# finding is written to fuzz/artifacts/TARGET/; both are ignored by git. Each finding
# becomes a regression test (tests/xzup/fuzz_findings.rs) with its minimised input:
#   cargo fuzz tmin -s none -a TARGET fuzz/artifacts/TARGET/crash-…
# Prints, per target: executions, exec/s, corpus size, and findings.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."

secs=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) secs="${2:?--time takes seconds}"; shift 2 ;;
    --time=*) secs="${1#--time=}"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ "$secs" -ge 1 ] 2>/dev/null || die "--time takes a number of seconds, not \`$secs\`"
all=(compose_render tiers docker_stats archive journal)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "cargo install cargo-fuzz"
  cargo install --locked cargo-fuzz >/tmp/xzup-cargo-fuzz-install.log 2>&1 \
    || { tail -20 /tmp/xzup-cargo-fuzz-install.log >&2; die "installing cargo-fuzz failed"; }
fi
flags=(-s none -a)
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

# seed TARGET: copies the repository's own inputs of that kind into the corpus.
seed() {
  local dir="fuzz/corpus/$1"
  mkdir -p "$dir"
  case "$1" in
    compose_render)
      find examples tests/xzup/corpus src/compose/testdata -type f \( -name '*.yml' -o -name '*.yaml' \) \
        -size -64k -exec cp -t "$dir" {} + 2>/dev/null || true ;;
    tiers)
      cp templates/tiers.toml "$dir/tiers.toml"
      printf 'tiers_file = "tiers.toml"\n[services]\nserver = "xiaozhi-esp32-server"\ndb = "none"\n' >"$dir/xzup.toml" ;;
    docker_stats)
      printf '%s\n' '{"BlockIO":"0B / 0B","CPUPerc":"0.03%","Container":"abc","ID":"abc","MemPerc":"1.20%","MemUsage":"760KiB / 1.5GiB","Name":"xiaozhi-esp32-server","NetIO":"1kB / 0B","PIDs":"12"}' \
        '{"CPUPerc":"--","MemUsage":"-- / --","MemPerc":"--","Name":"db","PIDs":"--"}' >"$dir/stats" ;;
    archive)
      local tmp; tmp="$(mktemp -d)"
      # An archive in xzup's format: the manifest first, then the data it lists.
      mkdir -p "$tmp/.xzup" "$tmp/data" && printf 'x' >"$tmp/data/a"
      touch -d @1700000000 "$tmp/data" "$tmp/data/a"
      chmod 755 "$tmp/data"; chmod 644 "$tmp/data/a"
      local sum; sum=$(sha256sum "$tmp/data/a" | cut -d' ' -f1)
      printf '{"format":1,"tool":"xzup 0.1.0","created":"2026-01-01T00:00:00Z","compose_sha256":null,"roots":["data"],"data_bytes":1,"entries":[{"path":"data","type":"dir","size":0,"mode":493,"uid":0,"gid":0,"mtime":1700000000},{"path":"data/a","type":"file","size":1,"mode":420,"uid":0,"gid":0,"mtime":1700000000,"sha256":"%s"}],"skipped":[]}' \
        "$sum" >"$tmp/.xzup/manifest.json"
      tar -C "$tmp" --owner=0 --group=0 --no-recursion -czf "$dir/tiny.tar.gz" .xzup/manifest.json data data/a
      cp "$tmp/.xzup/manifest.json" "$dir/manifest.json"
      rm -rf "$tmp" ;;
    journal)
      printf '{"schema":1}' >"$dir/min.json"
      printf '%s' '{"schema":1,"id":"20260101T000000Z-apply-ultra","kind":"apply","xzup_version":"0.1.0","command":"xzup apply --tier ultra","tier_from":"low","tier_to":"ultra","started_at":"2026-01-01T00:00:00Z","steps":[{"step":"preflight","status":"done","attempts":1,"started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:01Z","duration_ms":1000},{"step":"down","status":"started","attempts":2,"started_at":"2026-01-01T00:00:01Z"}]}' >"$dir/run.json" ;;
  esac
}

log "building the fuzz targets"
(cd fuzz && cargo fuzz build "${flags[@]}" >/tmp/xzup-fuzz-build.log 2>&1) \
  || { tail -30 /tmp/xzup-fuzz-build.log >&2; die "building the fuzz targets failed"; }

summary=()
found=0
for t in "${targets[@]}"; do
  seed "$t"
  mkdir -p "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  log "fuzzing $t for ${secs} s"
  out="fuzz/artifacts/$t.log"
  (cd fuzz && cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1) >"$out" 2>&1 || true
  after=$(find "fuzz/artifacts/$t" -type f | wc -l)
  done_line=$(grep -a 'DONE' "$out" | tail -1 || true)
  execs=$(grep -a '^stat::number_of_executed_units' "$out" | awk '{print $2}' | tail -1)
  speed=$(grep -a '^stat::average_exec_per_sec' "$out" | awk '{print $2}' | tail -1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  new=$((after - before))
  found=$((found + new))
  summary+=("$(printf '%-15s %10s execs %8s exec/s  corpus %5s  findings %s' "$t" "${execs:-?}" "${speed:-?}" "$corpus" "$new")")
  [ -n "$done_line" ] && log "$t: $done_line"
  if [ "$new" -gt 0 ]; then
    log "$t: $new finding(s) in fuzz/artifacts/$t (log: $out)"
    grep -a -m3 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$out" >&2 || true
  fi
done
echo "fuzz: ${secs} s per target"
printf '  %s\n' "${summary[@]}"
[ "$found" -eq 0 ] || die "$found finding(s): minimise each (cargo fuzz tmin) and add it as a regression test"
