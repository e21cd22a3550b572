# shellcheck shell=bash
# Helpers shared by the xzup test-environment scripts in scripts/. Sourced, not run.

XZUP_LOG_TAG="${XZUP_LOG_TAG:-$(basename "$0" .sh)}"

_xzup_now() { date +%s.%N; }
XZUP_T0="$(_xzup_now)"

# elapsed seconds since $1 (default: script start), one decimal
xzup_elapsed() {
    local t0="${1:-$XZUP_T0}"
    awk -v a="$t0" -v b="$(_xzup_now)" 'BEGIN { printf "%.1f", b - a }'
}

log() { printf '[%s] %s\n' "$XZUP_LOG_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$XZUP_LOG_TAG" "$*" >&2; exit 1; }

# log_done START MESSAGE: prints MESSAGE with the time elapsed since START
log_done() { local t0="$1"; shift; log "$* ($(xzup_elapsed "$t0") s)"; }

# apt_install PKG...: installs Debian packages, running `apt-get update` first only when the
# install fails without it (stale or empty package lists on a fresh machine).
apt_install() {
    local t0; t0="$(_xzup_now)"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get install $*"
    if ! apt-get install -y -q --no-install-recommends "$@" >/tmp/xzup-apt.log 2>&1; then
        log "apt-get update"
        apt-get update -q >>/tmp/xzup-apt.log 2>&1 || { tail -20 /tmp/xzup-apt.log >&2; die "apt-get update failed"; }
        apt-get install -y -q --no-install-recommends "$@" >>/tmp/xzup-apt.log 2>&1 \
            || { tail -20 /tmp/xzup-apt.log >&2; die "apt-get install $* failed (log: /tmp/xzup-apt.log)"; }
    fi
    log_done "$t0" "installed $*"
}
