#!/usr/bin/env bash
# Proves the fixture images (scripts/fixture-images.sh) run the real compose files:
#   1. upstream docker-compose_all.yml, UNMODIFIED, with Compose v1 (docker-compose)
#   2. docker-compose-offline.yml ("low" tier: mysqld flags, redis-server list items, limits) with
#      Compose v1, on the datadir that run 1 initialised (restart + redo-log resize)
#   3. upstream docker-compose_all.yml with Compose v2 (docker compose), if installed
# Each run: up -d, wait for db+redis healthy, query MySQL and Redis via docker exec (and across
# containers over the compose network), check the stand-ins' heartbeats, then a timed `down`.
# Everything it creates (containers, network, temp dir) is removed on exit.
# Usage: scripts/verify-fixtures.sh [--v1-only]
# Env: XZUP_REFERENCE_DIR (default /work/shared/reference)
# The upstream file publishes ports 8000/8002/8003 and pins container names: it refuses to run
# while another such stack exists.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REF="${XZUP_REFERENCE_DIR:-/work/shared/reference}"
UPSTREAM="$REF/upstream/docker-compose_all.yml"
OFFLINE="$REF/docker-compose-offline.yml"
PROJECT=xzupfixturecheck
DB=xiaozhi-esp32-server-db
REDIS=xiaozhi-esp32-server-redis
SERVER=xiaozhi-esp32-server
WEB=xiaozhi-esp32-server-web
V2=1
for a in "$@"; do
    case "$a" in
        --v1-only) V2=0 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) die "unknown argument: $a" ;;
    esac
done
[ -f "$UPSTREAM" ] || die "missing $UPSTREAM"
[ -f "$OFFLINE" ] || die "missing $OFFLINE"
command -v docker-compose >/dev/null || die "docker-compose (v1) missing: run scripts/ensure-docker.sh"
if [ "$V2" = 1 ] && ! docker compose version >/dev/null 2>&1; then
    log "docker compose (v2) not installed: skipping the v2 run (scripts/install-compose-v2.sh installs it)"
    V2=0
fi

for c in $SERVER $WEB $DB $REDIS; do
    if docker inspect "$c" >/dev/null 2>&1; then
        die "a container named $c already exists (project $(docker inspect -f '{{index .Config.Labels "com.docker.compose.project"}}' "$c")): another stack runs here; not touching it"
    fi
done
for p in 8000 8002 8003; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "host port $p is in use"; fi
done

WORK="$(mktemp -d /tmp/xzup-fixturecheck.XXXXXX)"
cleanup() {
    local ids
    ids="$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")"
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
    docker network rm "${PROJECT}_default" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

FAILS=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then log "  ok   $1: $3"; else log "  FAIL $1: expected '$2', got '$3'"; FAILS=$((FAILS + 1)); fi
}
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$1" 2>/dev/null || echo missing; }
wait_healthy() { # wait_healthy SECONDS CONTAINER...
    local deadline=$((SECONDS + $1)) c ok; shift
    while [ "$SECONDS" -lt "$deadline" ]; do
        ok=1
        for c in "$@"; do [ "$(health "$c")" = healthy ] || ok=0; done
        [ "$ok" = 1 ] && return 0
        sleep 0.5
    done
    return 1
}
sql() { docker exec "$DB" mysql -uroot -p123456 -Nse "$1" 2>/dev/null; }

# run_stack LABEL FILE COMPOSE_CMD... : one full up / check / down cycle in $WORK
run_stack() {
    local label="$1" file="$2"; shift 2
    local compose=("$@" -p "$PROJECT" -f "$file")
    log "=== $label: ${compose[*]} up -d"
    local t0; t0="$(_xzup_now)"
    (cd "$WORK" && "${compose[@]}" up -d) >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "$label: up failed"; }
    log_done "$t0" "up -d returned"
    grep -iE 'warn' "$WORK/up.log" | sed 's/^/    compose: /' >&2 || true
    wait_healthy 120 "$DB" "$REDIS" || { docker logs "$DB" 2>&1 | tail -20 >&2; die "$label: db/redis not healthy after 120 s ($(health $DB)/$(health $REDIS))"; }
    log_done "$t0" "db and redis healthy"
    check "$label server running" running "$(docker inspect -f '{{.State.Status}}' $SERVER)"
    check "$label web running" running "$(docker inspect -f '{{.State.Status}}' $WEB)"
    check "$label mysql SELECT 1" 1 "$(sql 'SELECT 1')"
    check "$label database xiaozhi_esp32_server exists" xiaozhi_esp32_server "$(sql "SHOW DATABASES LIKE 'xiaozhi_esp32_server'")"
    check "$label redis-cli ping" PONG "$(docker exec $REDIS redis-cli ping)"
    # across the compose network, over TCP (both images carry both clients)
    check "$label redis reachable from db container" PONG "$(docker exec $DB redis-cli -h $REDIS ping)"
    check "$label mysql reachable from redis container as root@%" 1 \
        "$(docker exec $REDIS mysql -h $DB -uroot -p123456 -Nse 'SELECT 1' 2>&1)"
    sleep 1
    [ -s "$WORK/data/.xzup-standin-server.heartbeat" ] && check "$label server heartbeat in ./data" yes yes \
        || check "$label server heartbeat in ./data" yes no
    [ -s "$WORK/uploadfile/.xzup-standin-web.heartbeat" ] && check "$label web heartbeat in ./uploadfile" yes yes \
        || check "$label web heartbeat in ./uploadfile" yes no
    check "$label web stand-in answers on host port 8002" "xiaozhi web stand-in (fixture) ok" \
        "$(exec 3<>/dev/tcp/127.0.0.1/8002; printf 'GET / HTTP/1.0\r\n\r\n' >&3; tail -1 <&3)"
    "${CHECKS_EXTRA:-true}" "$label"
    t0="$(_xzup_now)"
    (cd "$WORK" && "${compose[@]}" down) >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; die "$label: down failed"; }
    local took; took="$(xzup_elapsed "$t0")"
    log "$label: down took ${took} s"
    awk -v t="$took" 'BEGIN { exit !(t < 5) }' && check "$label down under 5 s" yes yes || check "$label down under 5 s" yes "no (${took} s)"
    check "$label no container left" "" "$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")"
}

offline_checks() {
    local label="$1"
    check "$label marker row written by the first run" 1 "$(sql 'SELECT COUNT(*) FROM xiaozhi_esp32_server.xzup_marker')"
    check "$label max_connections" 1000 "$(sql 'SELECT @@max_connections')"
    check "$label innodb_buffer_pool_size" 536870912 "$(sql 'SELECT @@innodb_buffer_pool_size')"
    check "$label innodb_log_file_size" 134217728 "$(sql 'SELECT @@innodb_log_file_size')"
    check "$label collation_server" utf8mb4_unicode_ci "$(sql 'SELECT @@collation_server')"
    check "$label redis maxmemory" 536870912 "$(docker exec $REDIS redis-cli CONFIG GET maxmemory | tail -1)"
    check "$label redis maxmemory-policy" allkeys-lru "$(docker exec $REDIS redis-cli CONFIG GET maxmemory-policy | tail -1)"
    check "$label redis save" "900 1 300 10 60 10000" "$(docker exec $REDIS redis-cli CONFIG GET save | tail -1)"
    check "$label db memory limit (deploy.resources)" 2147483648 "$(docker inspect -f '{{.HostConfig.Memory}}' $DB)"
    check "$label redis NanoCpus (deploy.resources)" 1000000000 "$(docker inspect -f '{{.HostConfig.NanoCpus}}' $REDIS)"
}
upstream_checks() {
    local label="$1"
    check "$label innodb_buffer_pool_size (default)" 134217728 "$(sql 'SELECT @@innodb_buffer_pool_size')"
    check "$label data survives restart (marker table)" 1 \
        "$(sql 'CREATE TABLE IF NOT EXISTS xiaozhi_esp32_server.xzup_marker (id INT PRIMARY KEY); INSERT IGNORE INTO xiaozhi_esp32_server.xzup_marker VALUES (1); SELECT COUNT(*) FROM xiaozhi_esp32_server.xzup_marker')"
}

# Host layout of a real deployment
mkdir -p "$WORK/models/SenseVoiceSmall" "$WORK/data"
echo "fixture, not a model" >"$WORK/models/SenseVoiceSmall/model.pt"
printf 'manager-api:\n  url: http://xiaozhi-esp32-server-web:8002/xiaozhi\n  secret: fixture-secret\n' >"$WORK/data/.config.yaml"
cp "$UPSTREAM" "$WORK/docker-compose_all.yml"
cmp -s "$UPSTREAM" "$WORK/docker-compose_all.yml" || die "copy of the upstream file differs"

CHECKS_EXTRA=upstream_checks run_stack "v1/upstream (fresh datadir)" docker-compose_all.yml docker-compose
check "datadir owned by uid 999 (official mysql uid)" 999 "$(stat -c %u "$WORK/mysql/data/mysql")"

# The offline file sets cpus: '4' for the server: on a host with fewer cores the engine refuses to
# create it (NanoCpus above NCPU). Cap the limits at this host's cores; nothing else changes.
ncpu="$(docker info --format '{{.NCPU}}')"
awk -v n="$ncpu" '
    /^[ \t]*cpus:/ { v = $2; gsub(/["'\'']/, "", v); if (v + 0 > n) { sub(/cpus:.*/, "cpus: '\''" n "'\''") } }
    { print }' "$OFFLINE" >"$WORK/docker-compose-offline.yml"
log "offline file copied with cpus capped at $ncpu: $(diff "$OFFLINE" "$WORK/docker-compose-offline.yml" | grep -c '^>') line(s) changed"
CHECKS_EXTRA=offline_checks run_stack "v1/offline (same datadir, flags)" docker-compose-offline.yml docker-compose

if [ "$V2" = 1 ]; then
    CHECKS_EXTRA=upstream_checks run_stack "v2/upstream (same datadir)" docker-compose_all.yml docker compose
fi

if [ "$FAILS" -gt 0 ]; then die "$FAILS check(s) failed ($(xzup_elapsed) s)"; fi
log_done "$XZUP_T0" "all checks passed"
