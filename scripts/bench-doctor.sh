#!/usr/bin/env bash
# Measures what `xzup doctor` costs, on the idle fixture stack (the upstream file on the
# `seed` tier of tests/xzup/fixtures/e2e-tiers.toml):
#   - the CPU it adds during its window: CPU of the stack's containers (cgroup cpuacct, v1
#     or v2), of dockerd, containerd and the shims (/proc), and of xzup with its children
#     (the docker CLI calls), over a doctor window, minus the same span with no doctor;
#   - its wall time beyond the window;
#   - the size of a week of `--record` samples at the default interval, from the lines this
#     run recorded.
#
# Usage: scripts/bench-doctor.sh [--window SECONDS] [--reps N]   (default 30 s, 2 reps)
# Env:   XZUP_BIN       an xzup binary (default: `cargo build --release`, target/release/xzup)
#        XZUP_COMPOSE   v1 | v2 (default v2)
# Holds the e2e harness lock ($TMPDIR/xzup-e2e.lock): the fixture stack pins names and ports.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

WINDOW=30
REPS=2
while [ $# -gt 0 ]; do
    case "$1" in
        --window) WINDOW="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (usage: $0 [--window SECONDS] [--reps N])" ;;
    esac
done
[ "$WINDOW" -ge 2 ] 2>/dev/null || die "--window takes whole seconds, 2 or more, not \`$WINDOW\`"
[ "$REPS" -ge 1 ] 2>/dev/null || die "--reps takes a positive number, not \`$REPS\`"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TIERS="$REPO/tests/xzup/fixtures/e2e-tiers.toml"
PROJECT=xzbenchdoctor
CONTAINERS=(xiaozhi-esp32-server xiaozhi-esp32-server-web xiaozhi-esp32-server-db xiaozhi-esp32-server-redis)
export XZUP_COMPOSE="${XZUP_COMPOSE:-v2}"
case "$XZUP_COMPOSE" in
    v1) COMPOSE=(docker-compose) ;;
    v2) COMPOSE=(docker compose) ;;
    *) die "XZUP_COMPOSE is v1 or v2, not \`$XZUP_COMPOSE\`" ;;
esac
if [ -z "${XZUP_BIN:-}" ]; then
    log "cargo build --release"
    (cd "$REPO" && cargo build --release -q)
    XZUP_BIN="$REPO/target/release/xzup"
fi
DEPLOY="$(mktemp -d /var/tmp/xzup-bench-doctor.XXXXXX)"
xz() { "$XZUP_BIN" -C "$DEPLOY" --tiers-file "$TIERS" "$@"; }
compose() { "${COMPOSE[@]}" --ansi never -p "$PROJECT" --project-directory "$DEPLOY" -f "$DEPLOY/docker-compose_all.yml" "$@"; }
cleanup() {
    compose down -v -t 5 >/dev/null 2>&1 || true
    rm -rf "$DEPLOY"
}
trap cleanup EXIT

exec 9>"${TMPDIR:-/tmp}/xzup-e2e.lock"
log "waiting for the e2e lock"
flock 9

mkdir -p "$DEPLOY/models/SenseVoiceSmall" "$DEPLOY/data" "$DEPLOY/mysql/data" "$DEPLOY/uploadfile"
: >"$DEPLOY/models/SenseVoiceSmall/model.pt"
printf 'server:\n  ip: 0.0.0.0\n' >"$DEPLOY/data/.config.yaml"
sed 's/interval: 10s/interval: 1s/' "$REPO/tests/xzup/fixtures/docker-compose_all.yml" >"$DEPLOY/docker-compose_all.yml"
xz render --tier seed -o "$DEPLOY/seed.yml" >/dev/null 2>&1
mv "$DEPLOY/seed.yml" "$DEPLOY/docker-compose_all.yml"
compose up -d >/dev/null 2>&1
deadline=$(( $(date +%s) + 300 ))
until [ "$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${CONTAINERS[@]}" | grep -cE '^running/(healthy|none)$')" = 4 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "the stack was not healthy within 300 s"
    sleep 0.5
done
log "stack healthy; settling 10 s"
sleep 10

# CPU seconds so far of the stack's containers and of the engine's processes.
stack_cpu() {
    local total=0 id f
    for c in "${CONTAINERS[@]}"; do
        id="$(docker inspect -f '{{.Id}}' "$c")"
        for f in /sys/fs/cgroup/cpuacct/docker/"$id"/cpuacct.usage /sys/fs/cgroup/system.slice/docker-"$id".scope/cpu.stat; do
            [ -f "$f" ] || continue
            case "$f" in
                *cpuacct.usage) total=$(( total + $(cat "$f") / 1000 )) ;;
                *) total=$(( total + $(awk '$1 == "usage_usec" { print $2 }' "$f") )) ;;
            esac
        done
    done
    echo "$total"   # µs
}
engine_cpu() {
    local hz ticks=0 pid
    hz="$(getconf CLK_TCK)"
    for pid in $(pgrep -x dockerd) $(pgrep -x containerd) $(pgrep -f containerd-shim); do
        ticks=$(( ticks + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
    done
    echo $(( ticks * 1000000 / hz ))   # µs
}

for rep in $(seq 1 "$REPS"); do
    s0="$(stack_cpu)"; e0="$(engine_cpu)"
    sleep "$WINDOW"
    s1="$(stack_cpu)"; e1="$(engine_cpu)"
    base_stack=$(( s1 - s0 )); base_engine=$(( e1 - e0 ))

    s0="$(stack_cpu)"; e0="$(engine_cpu)"
    t0="$(_xzup_now)"
    /usr/bin/time -f '%U %S' -o "$DEPLOY/time.txt" "$XZUP_BIN" -C "$DEPLOY" --tiers-file "$TIERS" \
        doctor --window "${WINDOW}s" --record >/dev/null 2>&1 || true
    wall="$(xzup_elapsed "$t0")"
    s1="$(stack_cpu)"; e1="$(engine_cpu)"
    # `time` puts "Command exited with non-zero status 2" first: doctor found something.
    read -r user sys < <(tail -n 1 "$DEPLOY/time.txt")
    python3 - "$WINDOW" "$wall" "$user" "$sys" "$base_stack" $(( s1 - s0 )) "$base_engine" $(( e1 - e0 )) <<'PY'
import sys
w, wall, user, sys_, bs, ds, be, de = sys.argv[1:]
w, wall = float(w), float(wall)
client = float(user) + float(sys_)
stack = (int(ds) - int(bs)) / 1e6
engine = (int(de) - int(be)) / 1e6
total = client + stack + engine
print(f"window {w:.0f} s: wall {wall:.2f} s ({wall - w:+.2f} s beyond the window); "
      f"CPU added: xzup + docker CLI {client:.2f} s, in the containers {stack:+.2f} s, "
      f"engine {engine:+.2f} s; total {total:.2f} CPU-s = {100 * total / wall:.1f}% of one core")
PY
done

python3 - "$DEPLOY/.xzup/usage/samples.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
ticks = [l for l in lines if '"u"' in l]
windows = [l for l in lines if '"w"' in l]
tick = sum(len(l) + 1 for l in ticks) / len(ticks)
win = sum(len(l) + 1 for l in windows) / len(windows)
interval = 5  # doctor's default --interval
week = 7 * 86400
# Recorded back to back: an hourly `doctor --window 1h --record` (one window line an hour).
size = week / interval * tick + week / 3600 * win
print(f"record: {tick:.0f} B a sample, {win:.0f} B a window; a week at {interval} s: "
      f"{size / 2**20:.1f} MiB ({week // interval} samples, {week // 3600} windows of 1 h)")
PY
