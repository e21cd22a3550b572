#!/usr/bin/env bash
# Makes sure a Docker engine answers `docker info` and that docker-compose (Compose v1) exists.
#  - installs docker.io + docker-compose from Debian if the `docker`/`docker-compose` binaries are missing
#  - starts dockerd in the background (log: $XZUP_DOCKERD_LOG, default /var/log/dockerd-xzup.log)
#    if the daemon does not answer, and waits up to $XZUP_DOCKERD_WAIT seconds (default 60) for it
# Usage: scripts/ensure-docker.sh
# Idempotent: when everything is already there it only checks and returns.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DOCKERD_LOG="${XZUP_DOCKERD_LOG:-/var/log/dockerd-xzup.log}"
WAIT_S="${XZUP_DOCKERD_WAIT:-60}"
PIDFILE="${XZUP_DOCKERD_PIDFILE:-/var/run/docker.pid}"
# extra dockerd arguments, word-split (e.g. a second daemon for testing this script:
# "-H unix:///tmp/d.sock --config-file /tmp/d.json --exec-root ... --bridge none", with DOCKER_HOST set)
read -r -a EXTRA_ARGS <<<"${XZUP_DOCKERD_ARGS:-}"

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

missing=()
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ "$(id -u)" = 0 ] && ! command -v dockerd >/dev/null 2>&1 && ! docker_answers; then
    # a client without an engine: the engine comes with docker.io
    [[ " ${missing[*]-} " == *" docker.io "* ]] || missing+=(docker.io)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
else
    log "docker and docker-compose binaries present"
fi

if docker_answers; then
    log_done "$XZUP_T0" "engine answers: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}, {{.NCPU}} CPUs')"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "the Docker daemon does not answer and starting it needs root"
command -v dockerd >/dev/null 2>&1 || die "the Docker daemon does not answer and dockerd is not installed"

# start_dockerd [EXTRA_ARGS...]: starts dockerd detached; echoes its pid
start_dockerd() {
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    printf '\n==== %s: dockerd %s (started by xzup ensure-docker.sh)\n' "$(date -Is)" "$*" >>"$DOCKERD_LOG"
    nohup setsid dockerd --pidfile "$PIDFILE" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    echo $!
}

# wait_dockerd PID SECONDS: 0 once the engine answers, 1 if dockerd died or time ran out
wait_dockerd() {
    local pid="$1" deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        docker_answers && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 1
    done
    return 1
}

# A dockerd may already be starting (live pid in its pidfile): wait for it rather than start another.
if [ -s "$PIDFILE" ] && pid="$(cat "$PIDFILE")" && kill -0 "$pid" 2>/dev/null \
    && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    log "dockerd (pid $pid) is running but does not answer yet; waiting up to ${WAIT_S}s"
    t0="$(date +%s.%N)"
    if wait_dockerd "$pid" "$WAIT_S"; then
        log_done "$t0" "engine answers"
        exit 0
    fi
    die "dockerd (pid $pid) is running but does not answer docker info after ${WAIT_S}s; see its log"
fi

t0="$(date +%s.%N)"
log "starting dockerd in the background (log: $DOCKERD_LOG)"
pid="$(start_dockerd)"
if ! wait_dockerd "$pid" "$WAIT_S"; then
    # A fresh machine without /etc/docker/daemon.json may not support overlay2 (e.g. nested in a VM
    # whose root fs is itself an overlay). Retry once with a driver that works everywhere.
    if ! kill -0 "$pid" 2>/dev/null && ! grep -q '"storage-driver"' /etc/docker/daemon.json 2>/dev/null \
        && tail -50 "$DOCKERD_LOG" | grep -qiE 'storage.driver|overlay|graphdriver'; then
        driver=vfs
        command -v fuse-overlayfs >/dev/null 2>&1 && driver=fuse-overlayfs
        log "dockerd failed on its storage driver; retrying with --storage-driver=$driver"
        pid="$(start_dockerd --storage-driver="$driver")"
        wait_dockerd "$pid" "$WAIT_S" || true
    fi
fi
if ! docker_answers; then
    log "last lines of $DOCKERD_LOG:"
    tail -20 "$DOCKERD_LOG" >&2 || true
    if kill -0 "$pid" 2>/dev/null; then
        die "dockerd (pid $pid) did not answer docker info within ${WAIT_S}s (log: $DOCKERD_LOG)"
    fi
    die "dockerd exited without answering: $(grep -E 'failed to start daemon|level=fatal' "$DOCKERD_LOG" | tail -1) (log: $DOCKERD_LOG)"
fi
log_done "$t0" "dockerd started (pid $pid): $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}')"
