#!/usr/bin/env bash
# Measures the outage of a version upgrade of the web (v1 -> v2, the stand-ins of
# scripts/fixture-images.sh: v2 migrates the schema at start) on the fixture stack, two ways:
#   (a) upstream's manual procedure: down; docker rmi the web image; pull; up -d; wait until
#       every service is healthy and the web answers
#   (b) xzup: pull (before anything stops, timed apart); xzup apply --image web=… --no-pull
# There is no registry here: "pull" is `docker load` of a saved image whose own 64 MB layer is
# not on the engine (removed before each run); its base layers are, as they would be for a real
# pull of a new version. Figures per run: the outage from `down` to the web answering (a: this
# script, 100 ms polls; b: the same span from xzup's journal, `downtime_ms` plus the wait for
# the web, as the prober sees it), and the pull's own wall time.
#
# Usage: scripts/bench-version.sh [--reps N]       (default 3)
# Env:   XZUP_BIN (default: cargo build --release), XZUP_COMPOSE (v1|v2, default v2),
#        XZUP_BENCH_WORK (default /var/tmp/xzup-bench-version)
# Holds the e2e harness lock: the fixture stack pins container names and host ports.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (usage: $0 [--reps N])" ;;
    esac
done
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${XZUP_BENCH_WORK:-/var/tmp/xzup-bench-version}"
DEPLOY="$WORK/deploy"
XIAOZHI=ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server
OLD="$XIAOZHI:web_bench_v1"   # a tag of the fixture's web_v1 that the manual procedure may remove
NEW="$XIAOZHI:web_bench_v2"
PROJECT=xzbenchv
CONTAINERS=(xiaozhi-esp32-server xiaozhi-esp32-server-web xiaozhi-esp32-server-db xiaozhi-esp32-server-redis)
export XZUP_COMPOSE="${XZUP_COMPOSE:-v2}"
case "$XZUP_COMPOSE" in v1) COMPOSE=(docker-compose) ;; v2) COMPOSE=(docker compose) ;; *) die "XZUP_COMPOSE is v1 or v2" ;; esac
if [ -z "${XZUP_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release -q)
    XZUP_BIN="$REPO/target/release/xzup"
fi
compose() { "${COMPOSE[@]}" --ansi never -p "$PROJECT" --project-directory "$DEPLOY" -f "$DEPLOY/docker-compose_all.yml" "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

cleanup() {
    compose down -t 5 >/dev/null 2>&1 || true
    docker rmi "$NEW" "$OLD" >/dev/null 2>&1 || true
}
trap cleanup EXIT
exec 9>"${TMPDIR:-/tmp}/xzup-e2e.lock"
log "waiting for the e2e lock"
flock 9
mkdir -p "$WORK"

# The "new version" as a registry would serve it: web_v2 plus a 64 MB layer of its own.
if [ ! -f "$WORK/web_bench_v2.tar" ]; then
    cid="$(docker create --entrypoint /bin/true "$XIAOZHI:web_v2")"
    head -c 67108864 /dev/urandom >"$WORK/blob"
    docker cp "$WORK/blob" "$cid:/opt/bench-blob" >/dev/null
    docker commit --change 'ENTRYPOINT ["/usr/local/bin/web-standin.sh"]' "$cid" "$NEW" >/dev/null
    docker rm "$cid" >/dev/null; rm -f "$WORK/blob"
    docker save -o "$WORK/web_bench_v2.tar" "$NEW"
fi
pull() { docker rmi "$NEW" >/dev/null 2>&1 || true; docker load -q -i "$WORK/web_bench_v2.tar" >/dev/null; }

web_answers() { curl -fsS -m 1 -o /dev/null http://127.0.0.1:8002/ 2>/dev/null; }
wait_ready() {
    local deadline=$(( $(date +%s) + 300 )) states
    while :; do
        states="$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${CONTAINERS[@]}" 2>/dev/null || true)"
        if [ "$(grep -cE '^running/(healthy|none)$' <<<"$states")" = "${#CONTAINERS[@]}" ] && web_answers; then return 0; fi
        [ "$(date +%s)" -lt "$deadline" ] || die "not ready within 300 s: $states"
        sleep 0.1
    done
}

setup() {
    compose down -t 5 >/dev/null 2>&1 || true
    docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
    rm -rf "$DEPLOY"
    mkdir -p "$DEPLOY/models/SenseVoiceSmall" "$DEPLOY/data" "$DEPLOY/mysql/data" "$DEPLOY/uploadfile"
    head -c 1048576 /dev/zero >"$DEPLOY/models/SenseVoiceSmall/model.pt"
    printf 'server:\n  ip: 0.0.0.0\n' >"$DEPLOY/data/.config.yaml"
    docker tag "$XIAOZHI:web_v1" "$OLD"
    sed -e 's/interval: 10s/interval: 1s/' -e "s#$XIAOZHI:web_latest#$OLD#" \
        "$REPO/tests/xzup/fixtures/docker-compose_all.yml" >"$DEPLOY/docker-compose_all.yml"
    docker rmi "$NEW" >/dev/null 2>&1 || true
    compose up -d >/dev/null 2>&1
    wait_ready
}

# The web's gap as a browser sees it: GET / on 8002 every 100 ms, the longest run of failures.
probe_start() {
    rm -f "$WORK/gap"
    python3 - "$WORK/gap" <<'PY' &
import signal, socket, sys, time
stop = False
def halt(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, halt)
gap, since = 0.0, None
while not stop:
    t = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", 8002), timeout=1)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        ok = s.recv(5) == b"HTTP/"
        s.close()
    except OSError:
        ok = False
    if ok and since is not None:
        gap, since = max(gap, t - since), None
    elif not ok and since is None:
        since = t
    time.sleep(0.1)
open(sys.argv[1], "w").write(f"{gap:.2f}")
PY
    PROBE=$!
    sleep 0.3
}
probe_stop() {
    kill "$PROBE"
    local i; for i in $(seq 50); do [ -s "$WORK/gap" ] && break; sleep 0.1; done
    cat "$WORK/gap"
}

RESULTS=()
for rep in $(seq "$REPS"); do
    # (a) manual: down, rmi, pull, up -d
    setup
    probe_start
    t0="$(now)"
    compose down -t 10 >/dev/null 2>&1
    docker rmi "$OLD" >/dev/null 2>&1 || true   # what upstream's procedure does (web_v1 keeps the image)
    tp="$(now)"; pull; tq="$(now)"
    sed -i "s#$OLD#$NEW#" "$DEPLOY/docker-compose_all.yml"
    compose up -d >/dev/null 2>&1
    wait_ready
    t1="$(now)"
    gap="$(probe_stop)"
    RESULTS+=("a rep $rep: web gap $gap s; down -> ready $(secs "$t0" "$t1") s (of which pull $(secs "$tp" "$tq") s)")
    log "${RESULTS[-1]}"

    # (b) xzup: pull first, then apply
    setup
    tp="$(now)"; pull; tq="$(now)"
    probe_start
    t0="$(now)"
    "$XZUP_BIN" -C "$DEPLOY" apply --image "web=$NEW" --no-pull --verify-window 1 >/dev/null 2>"$WORK/apply.log" \
        || { tail -20 "$WORK/apply.log" >&2; die "xzup apply failed"; }
    t1="$(now)"
    gap="$(probe_stop)"
    down_ms="$(python3 -c "import json,glob,sys; j=json.load(open(sorted(glob.glob('$DEPLOY/.xzup/runs/*/journal.json'))[-1])); print(j.get('downtime_ms'))")"
    RESULTS+=("b rep $rep: web gap $gap s; xzup downtime_ms (down -> all healthy) $(python3 -c "print(f'{$down_ms/1000:.2f}')") s; pull before it $(secs "$tp" "$tq") s; whole apply $(secs "$t0" "$t1") s")
    log "${RESULTS[-1]}"
done
compose down -t 5 >/dev/null 2>&1 || true
docker rmi "$NEW" "$OLD" >/dev/null 2>&1 || true
for tagname in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$XIAOZHI" | grep ':xzup-' || true); do docker rmi "$tagname" >/dev/null 2>&1 || true; done
printf '%s\n' "${RESULTS[@]}"
