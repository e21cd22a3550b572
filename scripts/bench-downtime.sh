#!/usr/bin/env bash
# Measures the outage of an upgrade, five ways, on the fixture stack (the upstream file on
# the `seed` tier of tests/xzup/fixtures/e2e-tiers.toml, moved to `grow`), in one run:
#   (a) the plan's manual procedure: down; tar -czf mysql/data uploadfile; up -d with the
#       new file; wait until healthy
#   (b) xzup apply --backup-mode direct
#   (c) xzup apply --backup-mode precopy
#   (d) the floor: down; up -d with the new file; wait until healthy (no backup)
#   (e) xzup apply --strategy live (the new limits and settings on the running stack)
# with SIZE of data (half MySQL-datadir-shaped files inside mysql/data, half uploads) and a
# light write load (one INSERT at a time into MariaDB) running until the stack stops. Two
# figures per run: the outage from `down` to every service healthy (a, d: this script,
# polling `docker inspect` every 100 ms; b, c: xzup's own `downtime_ms`, the same span as
# its journal records it), and the device-visible gap: a prober on the host requests the
# server's published port 8000 every 100 ms; the longest run of failed requests (from the
# first failure to the next success), and how many requests failed. Prints every run
# (xzup's outage split into its parts, the apply's wall time), the medians, and the
# ratios b/a, c/a, c/d.
#
# Usage: scripts/bench-downtime.sh [--size SIZE] [--reps N] [--modes abcde]
#        SIZE: 256M, 1G, 4G … (default 1G); N: repetitions of each mode (default 3)
# Env:   XZUP_BIN          an xzup binary (default: `cargo build --release`, then target/release/xzup)
#        XZUP_BENCH_WORK   where the deployment and its data live (default /var/tmp/xzup-bench-downtime)
#        XZUP_COMPOSE      v1 | v2 (default v2)
# Holds the e2e harness lock ($TMPDIR/xzup-e2e.lock) for its whole run: the fixture stack
# pins container names and host ports, so it cannot run beside an e2e test.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SIZE=1G
REPS=3
MODES=abcde
while [ $# -gt 0 ]; do
    case "$1" in
        --size) SIZE="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --modes) MODES="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (usage: $0 [--size SIZE] [--reps N] [--modes abcde])" ;;
    esac
done
[ "$REPS" -ge 1 ] 2>/dev/null || die "--reps takes a positive number, not \`$REPS\`"
case "$SIZE" in
    *[0-9]M) BYTES=$(( ${SIZE%M} * 1024 * 1024 )) ;;
    *[0-9]G) BYTES=$(( ${SIZE%G} * 1024 * 1024 * 1024 )) ;;
    *) die "--size takes a size like 256M or 4G, not \`$SIZE\`" ;;
esac
[[ "$MODES" =~ ^[abcde]+$ ]] || die "--modes takes letters of abcde, not \`$MODES\`"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${XZUP_BENCH_WORK:-/var/tmp/xzup-bench-downtime}"
DEPLOY="$WORK/deploy"
TIERS="$REPO/tests/xzup/fixtures/e2e-tiers.toml"
PROJECT=xzbench
DB=xiaozhi-esp32-server-db
CONTAINERS=(xiaozhi-esp32-server xiaozhi-esp32-server-web "$DB" xiaozhi-esp32-server-redis)
export XZUP_COMPOSE="${XZUP_COMPOSE:-v2}"
case "$XZUP_COMPOSE" in
    v1) COMPOSE=(docker-compose) ;;
    v2) COMPOSE=(docker compose) ;;
    *) die "XZUP_COMPOSE is v1 or v2, not \`$XZUP_COMPOSE\`" ;;
esac
command -v python3 >/dev/null || die "python3 is needed (data set, prober, summary)"

if [ -z "${XZUP_BIN:-}" ]; then
    log "cargo build --release"
    (cd "$REPO" && cargo build --release -q)
    XZUP_BIN="$REPO/target/release/xzup"
fi
xz() { "$XZUP_BIN" -C "$DEPLOY" --tiers-file "$TIERS" "$@"; }
compose() { "${COMPOSE[@]}" --ansi never -p "$PROJECT" --project-directory "$DEPLOY" -f "$DEPLOY/$1" "${@:2}"; }

# The fixture stack pins names and ports: one at a time on this engine.
exec 9>"${TMPDIR:-/tmp}/xzup-e2e.lock"
log "waiting for the e2e lock"
flock 9

# ---------------------------------------------------------------------------------------
# Waits until every container runs and is healthy where it has a healthcheck (100 ms polls).
wait_healthy() {
    local deadline=$(( $(date +%s) + 300 )) states
    while :; do
        states="$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${CONTAINERS[@]}" 2>/dev/null || true)"
        if [ "$(grep -cE '^running/(healthy|none)$' <<<"$states")" = "${#CONTAINERS[@]}" ]; then
            return 0
        fi
        [ "$(date +%s)" -lt "$deadline" ] || die "the stack was not healthy within 300 s: $states"
        sleep 0.1
    done
}

setup() {
    local t0; t0="$(_xzup_now)"
    compose docker-compose_all.yml down -t 10 >/dev/null 2>&1 || true
    docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
    rm -rf "$DEPLOY"
    mkdir -p "$DEPLOY/models/SenseVoiceSmall" "$DEPLOY/data" "$DEPLOY/mysql/data" "$DEPLOY/uploadfile"
    head -c 1048576 /dev/zero >"$DEPLOY/models/SenseVoiceSmall/model.pt"
    printf 'server:\n  ip: 0.0.0.0\n' >"$DEPLOY/data/.config.yaml"
    cp "$REPO/tests/xzup/fixtures/docker-compose_all.yml" "$DEPLOY/docker-compose_all.yml"
    # The stack starts on `seed` (the base file), moves to `grow` (the file the manual
    # procedure starts; xzup renders its own, the same bytes).
    xz render --tier seed -o "$DEPLOY/seed.yml" >/dev/null 2>&1
    mv "$DEPLOY/seed.yml" "$DEPLOY/docker-compose_all.yml"
    xz render --tier grow -o "$DEPLOY/manual-grow.yml" >/dev/null 2>&1
    compose docker-compose_all.yml up -d >/dev/null 2>&1
    wait_healthy
    docker exec -e MYSQL_PWD=123456 "$DB" mysql --user=root -e \
        "CREATE TABLE IF NOT EXISTS xiaozhi_esp32_server.bench_load (id INT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3), payload VARCHAR(80)) ENGINE=InnoDB"
    log "filling $SIZE: half in mysql/data/bench_filler, half in uploadfile/bench"
    python3 - "$DEPLOY" "$BYTES" <<'PY'
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2])
MiB = 1 << 20
rng = random.Random(11)
words = b"xiaozhi hello weather music alarm light agent device session reply user assistant ".split()
def block(kind):
    if kind == 0:
        return bytes(MiB)
    if kind == 1:
        return rng.randbytes(MiB)
    out = bytearray()
    while len(out) < MiB:
        out += b" ".join(rng.choice(words) for _ in range(16)) + b"\n"
    return bytes(out[:MiB])
# A pool of 1 MiB blocks (text-like, zero, random pages, roughly what a datadir holds).
pool = [block(k) for k in [2] * 24 + [0] * 5 + [1] * 3]
def fill(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            b = pool[rng.randrange(len(pool))]
            f.write(b[: min(left, MiB)])
            left -= MiB
half = total // 2
# Datadir-shaped: a few large tablespaces and many small ones.
db = os.path.join(root, "mysql/data/bench_filler")
big = half * 3 // 4
for i in range(4):
    fill(f"{db}/big_{i}.ibd", big // 4)
small = half - big
for i in range(64):
    fill(f"{db}/t_{i:03}.ibd", small // 64)
# Uploads: mixed sizes.
up = os.path.join(root, "uploadfile/bench")
left, i = total - half, 0
while left > 0:
    size = min(left, rng.choice([64 << 10, 512 << 10, 2 * MiB, 8 * MiB]))
    fill(f"{up}/upload-{i:05}.bin", size)
    left -= size
    i += 1
PY
    sync
    log_done "$t0" "deployment ready in $DEPLOY ($(du -sh "$DEPLOY" | cut -f1))"
}

# Puts the stack back on the seed file, healthy, with xzup's state cleared (so every apply
# moves seed -> grow).
reset() {
    rm -f "$DEPLOY/.xzup/state.json" "$DEPLOY/docker-compose-grow.yml"
    rm -rf "$DEPLOY/backups" "$WORK/manual.tar.gz"
    # A live run leaves the seed file's containers running with the new values: Compose
    # sees nothing to change, so they are recreated from the file.
    if [ -e "$WORK/live.dirty" ]; then
        compose docker-compose_all.yml up -d --force-recreate >/dev/null 2>&1
        rm -f "$WORK/live.dirty"
    else
        compose docker-compose_all.yml up -d >/dev/null 2>&1
    fi
    wait_healthy
    sync
    sleep 2
}

start_load() {
    (
        while docker exec -e MYSQL_PWD=123456 "$DB" mysql --user=root -e \
            "INSERT INTO xiaozhi_esp32_server.bench_load (payload) VALUES ('load')" >/dev/null 2>&1; do
            :
        done
    ) &
    LOAD_PID=$!
}

start_prober() {
    rm -f "$WORK/probe.stop"
    python3 - "$WORK/probe.log" "$WORK/probe.stop" <<'PY' &
import os, socket, sys, time
log, stop = open(sys.argv[1], "w"), sys.argv[2]
while not os.path.exists(stop):
    t = time.time()
    ok = False
    try:
        with socket.create_connection(("127.0.0.1", 8000), timeout=0.09) as s:
            s.settimeout(0.09)
            s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            ok = s.recv(12).startswith(b"HTTP/")
    except OSError:
        pass
    log.write(f"{t:.3f} {int(ok)}\n")
    log.flush()
    time.sleep(max(0.0, 0.1 - (time.time() - t)))
PY
    PROBER_PID=$!
}

# The longest run of failed requests in the prober's log: first failure to next success.
gap() {
    python3 - "$WORK/probe.log" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
longest, since = 0.0, None
for t, ok in rows:
    t = float(t)
    if ok == "0" and since is None:
        since = t
    elif ok == "1" and since is not None:
        longest, since = max(longest, t - since), None
print(f"{longest:.2f}" if since is None else "nan")
PY
}

# How many requests in the prober's log failed.
failed() {
    grep -c ' 0$' "$WORK/probe.log" || true
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# One run of MODE: prints "MODE OUTAGE GAP FAILED WALL PARTS".
run_mode() {
    local mode="$1" t0 t1 outage parts json wall=-
    reset
    start_prober
    start_load
    sleep 3
    case "$mode" in
        a|d)
            t0="$(now)"
            compose docker-compose_all.yml down >/dev/null 2>&1
            if [ "$mode" = a ]; then
                tar -czf "$WORK/manual.tar.gz" -C "$DEPLOY" mysql/data uploadfile
            fi
            local t_up; t_up="$(now)"
            compose manual-grow.yml up -d >/dev/null 2>&1
            wait_healthy
            t1="$(now)"
            outage="$(secs "$t0" "$t1")"
            if [ "$mode" = a ]; then
                parts="down+tar $(secs "$t0" "$t_up")s, up $(secs "$t_up" "$t1")s"
            else
                parts="down $(secs "$t0" "$t_up")s, up $(secs "$t_up" "$t1")s"
            fi
            ;;
        b|c|e)
            local how=(--backup-mode direct)
            [ "$mode" = c ] && how=(--backup-mode precopy)
            [ "$mode" = e ] && { how=(--strategy live); touch "$WORK/live.dirty"; }
            t0="$(now)"
            json="$(xz --format json apply --tier grow "${how[@]}" --verify-window 1 2>"$WORK/xzup.err")" \
                || { cat "$WORK/xzup.err" >&2; die "xzup apply failed (mode $mode)"; }
            wall="$(secs "$t0" "$(now)")"
            read -r outage parts < <(python3 -c '
import json, sys
run = json.loads(sys.stdin.read())
parts = ", ".join("%s %.2fs" % (p["step"], p["ms"] / 1000) for p in run.get("outage", []))
print("%.2f" % (run["downtime_ms"] / 1000), parts)' <<<"$json")
            ;;
    esac
    sleep 2
    touch "$WORK/probe.stop"
    wait "$PROBER_PID" 2>/dev/null || true
    kill "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
    echo "$mode $outage $(gap) $(failed) $wall ${parts:--}"
}

mkdir -p "$WORK"
setup
RESULTS="$WORK/results.txt"
: >"$RESULTS"
for rep in $(seq 1 "$REPS"); do
    for mode in $(grep -o . <<<"$MODES"); do
        line="$(run_mode "$mode")"
        log "rep $rep: $line"
        echo "$line" >>"$RESULTS"
    done
done
compose docker-compose_all.yml down >/dev/null 2>&1 || true
rm -rf "$DEPLOY/backups" "$WORK/manual.tar.gz"

echo
echo "bench-downtime: --size $SIZE --reps $REPS, Compose $XZUP_COMPOSE, $(nproc) cores"
python3 - "$RESULTS" <<'PY'
import statistics, sys
names = {"a": "manual (down, tar -czf, up)", "b": "xzup --backup-mode direct",
         "c": "xzup --backup-mode precopy", "d": "floor (down, up)",
         "e": "xzup --strategy live"}
runs = {}
for line in open(sys.argv[1]):
    mode, outage, gap, failed, wall, *parts = line.split()
    runs.setdefault(mode, []).append((float(outage), float(gap), int(failed), wall, " ".join(parts)))
print(f"{'':32} {'outage s':>9} {'gap s':>7} {'failed':>7}   runs (outage: parts)")
med = {}
for mode in "abcde":
    if mode not in runs:
        continue
    o = statistics.median(r[0] for r in runs[mode])
    g = statistics.median(r[1] for r in runs[mode])
    f = statistics.median(r[2] for r in runs[mode])
    med[mode] = (o, g)
    print(f"({mode}) {names[mode]:27} {o:9.2f} {g:7.2f} {f:7.0f}")
    for r in runs[mode]:
        print(f"      {r[0]:.2f}s gap {r[1]:.2f}s, {r[2]} failed, apply wall {r[3]}s: {r[4]}")
for a, b in (("b", "a"), ("c", "a"), ("c", "d")):
    if a in med and b in med:
        print(f"{a}/{b}: outage {med[a][0] / med[b][0]:.2f}, gap {med[a][1] / med[b][1]:.2f}")
if "c" in med and "d" in med:
    print(f"gap (c) - gap (d): {med['c'][1] - med['d'][1]:+.2f} s")
PY
