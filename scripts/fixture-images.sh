#!/usr/bin/env bash
# Builds, without any registry, local stand-ins for the images the xiaozhi compose files use:
#   mysql:latest, mysql:8.4.5   MariaDB 10.11 (Debian 12) behind an entrypoint that follows the
#                               official mysql image's contract (same image ID, two tags)
#   redis:8.0                   redis-server 7.0 (Debian 12) behind the official redis contract
#   ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:server_latest / :web_latest
#                               busybox-static stand-ins (trap TERM, heartbeat in their bind mount,
#                               a tiny HTTP page on the real ports)
#   …xiaozhi-esp32-server:web_v1 / :web_v2 / :web_v2-fails
#                               versioned web stand-ins with a forward-only schema (mysql:latest
#                               plus a script and busybox: MariaDB client, HTTP on 8002): v2
#                               "migrates" at start (adds sys_params.remark, changelog entry 2),
#                               v1 refuses to start on a changelog entry newer than itself;
#                               v2-fails migrates, then fails its start
#   redis:latest                another tag of redis:8.0 (an unpinned Redis, for `xzup pin`)
# MariaDB and Redis share one Debian 12 root filesystem made with debootstrap (minbase) from the
# mirror in this machine's own apt sources; it is cached under $XZUP_FIXTURE_CACHE.
#
# Usage: scripts/fixture-images.sh [--rebuild] [--rebuild-rootfs]
#   (no flag)         build only the images that do not exist yet (docker image inspect)
#   --rebuild         rebuild every image (from the cached rootfs)
#   --rebuild-rootfs  also redo the debootstrap rootfs (implies --rebuild)
# Env: XZUP_FIXTURE_CACHE  cache dir (default /var/cache/xzup-fixtures)
#      XZUP_DEBIAN_MIRROR  override the mirror taken from the apt sources
#      XZUP_STANDIN_VERSION  string baked into the server/web stand-ins (default "fixture")
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CACHE="${XZUP_FIXTURE_CACHE:-/var/cache/xzup-fixtures}"
SUITE=bookworm
ROOTFS="$CACHE/rootfs-$SUITE-db"
DEBS="$CACHE/debs-$SUITE"
PACKAGES="mariadb-server,mariadb-client,redis-server,redis-tools,tzdata"
MYSQL_TAGS=(mysql:latest mysql:8.4.5)
REDIS_TAGS=(redis:8.0)
XIAOZHI=ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server
SERVER_TAG="$XIAOZHI:server_latest"
WEB_TAG="$XIAOZHI:web_latest"
WEB_VERSION_TAGS=("$XIAOZHI:web_v1" "$XIAOZHI:web_v2" "$XIAOZHI:web_v2-fails")
STANDIN_VERSION="${XZUP_STANDIN_VERSION:-fixture}"
LABEL_KEY=org.xzup.fixture

REBUILD=0 REBUILD_ROOTFS=0
for a in "$@"; do
    case "$a" in
        --rebuild) REBUILD=1 ;;
        --rebuild-rootfs) REBUILD=1 REBUILD_ROOTFS=1 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) die "unknown argument: $a (see --help)" ;;
    esac
done

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, docker)"
timeout 10 docker info >/dev/null 2>&1 || die "the Docker engine does not answer (run scripts/ensure-docker.sh)"

BUILT=()
SKIPPED=()

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null; }
all_exist() { local t; for t in "$@"; do image_exists "$t" || return 1; done; }

# ---------------------------------------------------------------------------------------------
# Mirror: the URI of the first apt source (one-line .list or deb822 .sources) that serves
# "$SUITE main" for deb packages. Never a hard-coded host.
detect_mirror() {
    local f
    {
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            awk -v s="$SUITE" '
                $1 == "deb" {
                    i = 2
                    if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    main = 0
                    for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
                    if ($(i + 1) == s && main) print $i
                }' "$f"
        done
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk -v s="$SUITE" '
                function reset() { types = uris = suites = comps = last = ""; enabled = "yes" }
                function flush(  n, k, u) {
                    if ((" " types " ") ~ / deb / && enabled != "no" \
                        && (" " suites " ") ~ (" " s " ") && (" " comps " ") ~ / main /) {
                        n = split(uris, u, /[ \t]+/)
                        for (k = 1; k <= n; k++) if (u[k] != "") print u[k]
                    }
                    reset()
                }
                function set(key, val) {
                    if (key == "types") types = types " " val
                    else if (key == "uris") uris = uris " " val
                    else if (key == "suites") suites = suites " " val
                    else if (key == "components") comps = comps " " val
                    else if (key == "enabled") enabled = tolower(val)
                }
                BEGIN { reset() }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                /^[ \t]/ { v = $0; sub(/^[ \t]+/, "", v); set(last, v); next }
                {
                    c = index($0, ":"); if (c == 0) next
                    last = tolower(substr($0, 1, c - 1)); v = substr($0, c + 1)
                    gsub(/^[ \t]+|[ \t]+$/, "", v); set(last, v)
                }
                END { flush() }' "$f"
        done
    } | grep -v -E '^(cdrom|mirror\+file):' | head -1
}

# ---------------------------------------------------------------------------------------------
kill_chroot_procs() {
    # package scripts must not leave daemons running inside the rootfs
    local p root
    for p in /proc/[0-9]*; do
        root="$(readlink "$p/root" 2>/dev/null || true)"
        case "$root" in
            "$1"|"$1"/*) log "killing leftover process ${p#/proc/} in the rootfs"; kill -9 "${p#/proc/}" 2>/dev/null || true ;;
        esac
    done
}

build_rootfs() {
    local t0; t0="$(_xzup_now)"
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    local mirror="${XZUP_DEBIAN_MIRROR:-$(detect_mirror)}"
    [ -n "$mirror" ] || die "no apt source serves '$SUITE main' (looked in /etc/apt/sources.list{,.d/*.list,.d/*.sources}); set XZUP_DEBIAN_MIRROR"
    local tmp="$ROOTFS.tmp"
    rm -rf "$tmp"
    mkdir -p "$DEBS" "$tmp"
    log "debootstrap --variant=minbase --include=$PACKAGES $SUITE from $mirror (log: $CACHE/debootstrap.log)"
    local attempt
    for attempt in 1 2; do   # one retry for a network hiccup; downloaded .debs are kept in $DEBS
        if debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$DEBS" \
                "$SUITE" "$tmp" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
            break
        fi
        kill_chroot_procs "$tmp"
        if [ "$attempt" = 2 ]; then
            tail -20 "$CACHE/debootstrap.log" >&2
            die "debootstrap failed (log: $CACHE/debootstrap.log)"
        fi
        log "debootstrap failed; retrying once (log: $CACHE/debootstrap.log)"
        grep " $tmp/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
        rm -rf "$tmp"; mkdir -p "$tmp"
    done
    kill_chroot_procs "$tmp"
    # debootstrap may leave mounts behind on failure paths; never tar through them
    if grep -q " $tmp/" /proc/mounts; then
        grep " $tmp/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
    fi

    # mysql gets uid/gid 999 like the official mysql image, so a bind-mounted datadir looks the same
    local ouid ogid
    ouid="$(chroot "$tmp" id -u mysql)"; ogid="$(chroot "$tmp" id -g mysql)"
    if [ "$ouid" != 999 ] && ! chroot "$tmp" getent passwd 999 >/dev/null && ! chroot "$tmp" getent group 999 >/dev/null; then
        chroot "$tmp" groupmod -g 999 mysql
        chroot "$tmp" usermod -u 999 -g 999 mysql
        find "$tmp" -xdev -uid "$ouid" -exec chown -h 999 {} +
        find "$tmp" -xdev -gid "$ogid" -exec chgrp -h 999 {} +
    fi
    # the package initialised a datadir; the entrypoint must see an empty one
    find "$tmp/var/lib/mysql" -mindepth 1 -delete
    mkdir -p "$tmp/run/mysqld" "$tmp/data"
    chroot "$tmp" chown mysql:mysql /var/lib/mysql /run/mysqld
    chroot "$tmp" chown redis:redis /data
    # slim down
    rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/cache/apt/*.bin "$tmp"/var/lib/apt/lists/* \
        "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/info/* "$tmp"/var/log/*.log \
        "$tmp"/var/log/apt/* "$tmp"/var/lib/mysql/*
    chroot "$tmp" dpkg-query -W -f '${Package} ${Version}\n' mariadb-server redis-server >"$tmp/etc/xzup-fixture-versions"
    echo "mirror $mirror" >>"$tmp/etc/xzup-fixture-versions"
    rm -rf "$ROOTFS"
    mv "$tmp" "$ROOTFS"
    log_done "$t0" "rootfs ready: $ROOTFS ($(du -sh "$ROOTFS" | cut -f1); $(head -2 "$ROOTFS/etc/xzup-fixture-versions" | tr '\n' ' '))"
}

# ---------------------------------------------------------------------------------------------
# Entrypoints (written into a build context; COPY keeps their mode)

write_mysql_entrypoint() {
    cat >"$1" <<'EOF'
#!/bin/bash
# xzup fixture: MariaDB behind the contract of the official mysql image's docker-entrypoint.sh
set -eo pipefail
log() { printf '%s [Entrypoint]: %s\n' "$(date -Is)" "$*" >&2; }

# first arg is `-f` or `--some-option`: mysqld flags
if [ "${1#-}" != "$1" ]; then set -- mysqld "$@"; fi
case "$1" in
    mysqld|mariadbd) shift ;;
    *) exec "$@" ;;
esac

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
INIT_SOCKET=/run/mysqld/init.sock   # not the default socket: the healthcheck stays red during init
mkdir -p /run/mysqld "$DATADIR"
chown mysql:mysql /run/mysqld
if [ "$(stat -c %U "$DATADIR")" != mysql ]; then chown mysql:mysql "$DATADIR"; fi
find "$DATADIR" -mindepth 1 \! -user mysql -exec chown mysql:mysql '{}' + 2>/dev/null || true
# MYSQL_INITDB_ARGS (a postgres-ism in the upstream file, unused by the official mysql image) is ignored.

if [ ! -d "$DATADIR/mysql" ]; then
    : "${MYSQL_ROOT_HOST:=%}"
    if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
        log "error: database is uninitialized and password option is not specified"
        log "  You need to specify one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD and MYSQL_RANDOM_ROOT_PASSWORD"
        exit 1
    fi
    if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ROOT_PASSWORD:-}" ]; then
        MYSQL_ROOT_PASSWORD="$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24)"
        log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
    fi
    log "initializing database files in $DATADIR"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db --auth-root-authentication-method=normal \
        --skip-log-bin --default-time-zone=SYSTEM --loose-innodb_buffer_pool_load_at_startup=0 \
        --loose-innodb_buffer_pool_dump_at_shutdown=0 >/dev/null
    log "starting temporary server"
    mariadbd --user=mysql --datadir="$DATADIR" "$@" --skip-networking --socket="$INIT_SOCKET" \
        --skip-log-bin --loose-innodb_buffer_pool_load_at_startup=0 &
    pid=$!
    for i in $(seq 300); do
        mariadb-admin --socket="$INIT_SOCKET" -uroot ping >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { log "temporary server died"; exit 1; }
        sleep 0.1
    done
    mariadb-admin --socket="$INIT_SOCKET" -uroot ping >/dev/null 2>&1 || { log "temporary server did not start"; exit 1; }
    q() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }   # SQL string escaping
    pw="$(q "${MYSQL_ROOT_PASSWORD:-}")"
    host="$(q "$MYSQL_ROOT_HOST")"
    {
        echo "SET @@SESSION.SQL_LOG_BIN=0;"
        echo "DROP USER IF EXISTS ''@'localhost', root@'127.0.0.1', root@'::1';"
        echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname, '\'');"
        echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS \'\'@\'', @@hostname, '\'');"
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';"
        if [ "$MYSQL_ROOT_HOST" != localhost ]; then
            echo "CREATE USER IF NOT EXISTS 'root'@'$host' IDENTIFIED BY '$pw';"
            echo "GRANT ALL ON *.* TO 'root'@'$host' WITH GRANT OPTION;"
        fi
        if [ -n "${MYSQL_DATABASE:-}" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/}\`;"
        fi
        if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
            echo "CREATE USER IF NOT EXISTS '$(q "$MYSQL_USER")'@'%' IDENTIFIED BY '$(q "$MYSQL_PASSWORD")';"
            [ -z "${MYSQL_DATABASE:-}" ] || echo "GRANT ALL ON \`${MYSQL_DATABASE//\`/}\`.* TO '$(q "$MYSQL_USER")'@'%';"
        fi
        echo "FLUSH PRIVILEGES;"
    } | mariadb --protocol=socket --socket="$INIT_SOCKET" -uroot
    mysql_cmd=(mariadb --protocol=socket --socket="$INIT_SOCKET" -uroot -p"${MYSQL_ROOT_PASSWORD:-}")
    [ -n "${MYSQL_ROOT_PASSWORD:-}" ] || mysql_cmd=(mariadb --protocol=socket --socket="$INIT_SOCKET" -uroot)
    [ -z "${MYSQL_DATABASE:-}" ] || mysql_cmd+=("$MYSQL_DATABASE")
    for f in /docker-entrypoint-initdb.d/*; do
        [ -f "$f" ] || continue
        case "$f" in
            *.sh) log "running $f"; . "$f" ;;
            *.sql) log "running $f"; "${mysql_cmd[@]}" <"$f" ;;
            *.sql.gz) log "running $f"; gunzip -c "$f" | "${mysql_cmd[@]}" ;;
            *) log "ignoring $f" ;;
        esac
    done
    log "stopping temporary server"
    kill -TERM "$pid"
    wait "$pid" || true
    log "init process done; ready for start up"
fi

log "starting mariadbd $*"
exec mariadbd --user=mysql --datadir="$DATADIR" --bind-address=0.0.0.0 "$@"
EOF
    chmod 0755 "$1"
}

write_redis_entrypoint() {
    cat >"$1" <<'EOF'
#!/bin/bash
# xzup fixture: redis-server behind the contract of the official redis image's docker-entrypoint.sh
set -e
# first arg is `-f` or `--some-option`, or `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
    shift
    # The official image is built with protected mode off, and with no config file redis binds
    # to all interfaces: other containers must reach it without a password.
    case " $* " in *" --protected-mode"*) ;; *) set -- "$@" --protected-mode no ;; esac
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
        umask 0077
        exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$@"
    fi
    exec redis-server "$@"
fi
exec "$@"
EOF
    chmod 0755 "$1"
}

write_mysql_cnf() {
    cat >"$1" <<'EOF'
# xzup fixture (like the official image's conf.d/docker.cnf)
[mysqld]
skip-name-resolve
host-cache-size=0
EOF
}

# ---------------------------------------------------------------------------------------------
# The entrypoints go into the cached rootfs (cheap, so script edits apply on --rebuild), then the
# rootfs is imported once per image with that image's config. Both imports carry identical
# content, so Docker stores the layer once (same diff ID).
prepare_rootfs_files() {
    write_mysql_entrypoint "$ROOTFS/usr/local/bin/docker-entrypoint.sh"
    write_redis_entrypoint "$ROOTFS/usr/local/bin/redis-entrypoint.sh"
    write_mysql_cnf "$ROOTFS/etc/mysql/conf.d/docker.cnf"
    mkdir -p "$ROOTFS/docker-entrypoint-initdb.d"
}

# import_rootfs TAG --change ... : imports the cached rootfs as TAG
import_rootfs() {
    local tag="$1" t0; t0="$(_xzup_now)"; shift
    tar -C "$ROOTFS" --numeric-owner -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        "$@" - "$tag" >/dev/null
    log_done "$t0" "imported $tag ($(image_id "$tag" | cut -c8-19))"
}

build_mysql() {
    import_rootfs "${MYSQL_TAGS[0]}" \
        --change "LABEL $LABEL_KEY=mysql" \
        --change 'EXPOSE 3306' \
        --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
        --change 'CMD ["mysqld"]'
    local t; for t in "${MYSQL_TAGS[@]:1}"; do docker tag "${MYSQL_TAGS[0]}" "$t"; log "tagged $t"; done
    BUILT+=("${MYSQL_TAGS[@]}")
}

build_redis() {
    import_rootfs "${REDIS_TAGS[0]}" \
        --change "LABEL $LABEL_KEY=redis" \
        --change 'EXPOSE 6379' \
        --change 'WORKDIR /data' \
        --change 'ENTRYPOINT ["redis-entrypoint.sh"]' \
        --change 'CMD ["redis-server"]'
    local t; for t in "${REDIS_TAGS[@]:1}"; do docker tag "${REDIS_TAGS[0]}" "$t"; log "tagged $t"; done
    BUILT+=("${REDIS_TAGS[@]}")
}

write_standin_script() {
    cat >"$1" <<'EOF'
#!/bin/sh
# xzup fixture: stand-in for the xiaozhi server/web containers.
# PID 1 traps TERM/INT and exits at once; writes a heartbeat into its bind mount; serves a tiny
# page on the real ports. STANDIN_EXIT_CODE=N makes it exit with N right away (failure tests).
role="${STANDIN_ROLE:-${1:-server}}"
case "$role" in
    server) dir=/opt/xiaozhi-esp32-server/data; ports="8000 8003" ;;
    web) dir=/uploadfile; ports="8002" ;;
    *) echo "unknown role $role" >&2; exit 2 ;;
esac
mkdir -p "$dir" /www
mark="$dir/.xzup-standin-$role"
echo "$(date -Iseconds) start role=$role version=$STANDIN_VERSION host=$(hostname)" >>"$mark.log"
if [ -n "$STANDIN_EXIT_CODE" ]; then
    echo "xzup stand-in $role: exiting with $STANDIN_EXIT_CODE (STANDIN_EXIT_CODE)" >&2
    exit "$STANDIN_EXIT_CODE"
fi
echo "xiaozhi $role stand-in ($STANDIN_VERSION) ok" >/www/index.html
pids=""
for p in $ports; do httpd -f -p "$p" -h /www & pids="$pids $!"; done
stop() {
    echo "xzup stand-in $role: signal received, exiting" >&2
    kill $pids 2>/dev/null
    echo "$(date -Iseconds) stop role=$role" >>"$mark.log"
    exit 0
}
trap stop TERM INT
echo "xzup stand-in $role ($STANDIN_VERSION) up; ports:$ports; heartbeat $mark.heartbeat" >&2
while :; do
    date +%s >"$mark.heartbeat"
    sleep 5 &
    wait $!
done
EOF
    chmod 0755 "$1"
}

build_standins() {
    if [ "$REBUILD" = 0 ] && all_exist "$SERVER_TAG" "$WEB_TAG"; then SKIPPED+=("$SERVER_TAG" "$WEB_TAG"); return; fi
    local t0; t0="$(_xzup_now)"
    local busybox
    busybox="$(command -v busybox || true)"
    if [ -z "$busybox" ] || ! file_is_static "$busybox"; then
        [ -x /bin/busybox ] && file_is_static /bin/busybox || apt_install busybox-static
        busybox=/bin/busybox
    fi
    file_is_static "$busybox" || die "$busybox is not statically linked"
    local rf; rf="$(mktemp -d)"
    mkdir -p "$rf/bin" "$rf/tmp" "$rf/etc" "$rf/www" "$rf/opt/xiaozhi-esp32-server/data" "$rf/uploadfile"
    chmod 1777 "$rf/tmp"
    cp "$busybox" "$rf/bin/busybox"
    local app
    for app in $("$busybox" --list); do
        [ -e "$rf/bin/$app" ] || ln -s busybox "$rf/bin/$app"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rf/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rf/etc/group"
    write_standin_script "$rf/standin.sh"
    local role tag
    for role in server web; do
        if [ "$role" = server ]; then tag="$SERVER_TAG"; else tag="$WEB_TAG"; fi
        if [ "$REBUILD" = 0 ] && image_exists "$tag"; then SKIPPED+=("$tag"); continue; fi
        tar -C "$rf" --numeric-owner --owner=0 --group=0 -c . | docker import \
            --change 'ENV PATH=/bin' \
            --change "ENV STANDIN_ROLE=$role" \
            --change "ENV STANDIN_VERSION=$STANDIN_VERSION" \
            --change "LABEL $LABEL_KEY=standin-$role" \
            --change 'ENTRYPOINT ["/standin.sh"]' \
            - "$tag" >/dev/null
        BUILT+=("$tag")
        log "built $tag ($(image_id "$tag" | cut -c8-19))"
    done
    rm -rf "$rf"
    log_done "$t0" "stand-ins done"
}

write_versioned_web_script() {
    cat >"$1" <<'EOF'
#!/bin/bash
# xzup fixture: a versioned web stand-in whose schema only moves forward, like the real web's
# Liquibase migrations. Schema version = STANDIN_SCHEMA_VERSION; the changelog table records
# every version applied. A web older than the newest entry refuses to start.
set -u
v="${STANDIN_SCHEMA_VERSION:?}"
url="${SPRING_DATASOURCE_DRUID_URL:-jdbc:mysql://xiaozhi-esp32-server-db:3306/xiaozhi_esp32_server}"
hp="${url#jdbc:mysql://}"; hp="${hp%%/*}"
host="${hp%%:*}"; port=3306; [ "$hp" = "$host" ] || port="${hp##*:}"
db="${url#jdbc:mysql://*/}"; db="${db%%\?*}"
export MYSQL_PWD="${SPRING_DATASOURCE_DRUID_PASSWORD:-}"
sql() { mariadb -h "$host" -P "$port" -u "${SPRING_DATASOURCE_DRUID_USERNAME:-root}" -N -B "$db" -e "$1"; }
log() { echo "xzup web stand-in v$v: $*" >&2; }
for _ in $(seq 240); do sql "SELECT 1" >/dev/null 2>&1 && break; sleep 0.25; done
sql "CREATE TABLE IF NOT EXISTS xzup_changelog (version INT PRIMARY KEY, applied_at DATETIME NOT NULL);
     CREATE TABLE IF NOT EXISTS sys_params (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL);
     INSERT IGNORE INTO xzup_changelog VALUES (1, NOW())" || { log "cannot reach the database"; exit 1; }
newest="$(sql "SELECT MAX(version) FROM xzup_changelog")"
if [ "$newest" -gt "$v" ]; then
    log "the schema is at version $newest, newer than this web: refusing to start"
    exit 1
fi
if [ "$v" -ge 2 ] && [ "$newest" -lt 2 ]; then
    sql "ALTER TABLE sys_params ADD COLUMN remark VARCHAR(255) NULL; INSERT INTO xzup_changelog VALUES (2, NOW())" || exit 1
    log "migrated the schema to version 2"
fi
if [ -n "${STANDIN_FAIL_AFTER_MIGRATE:-}" ]; then log "failing its start (STANDIN_FAIL_AFTER_MIGRATE)"; exit 1; fi
mkdir -p /www && echo "xiaozhi web stand-in v$v ok" >/www/index.html
busybox httpd -f -p 8002 -h /www &
pid=$!
trap 'kill $pid 2>/dev/null; exit 0' TERM INT
log "up on 8002"
wait "$pid"
EOF
    chmod 0755 "$1"
}

# The versioned webs: the mysql image (MariaDB client, bash) plus the script and a static
# busybox (httpd), committed once per version: a few seconds, no rootfs import.
build_versioned_webs() {
    if [ "$REBUILD" = 0 ] && all_exist "${WEB_VERSION_TAGS[@]}"; then SKIPPED+=("${WEB_VERSION_TAGS[@]}"); return; fi
    local t0; t0="$(_xzup_now)"
    local busybox; busybox="$(static_busybox)"
    local tmp cid; tmp="$(mktemp -d)"
    write_versioned_web_script "$tmp/web-standin.sh"
    cid="$(docker create --entrypoint /bin/true "${MYSQL_TAGS[0]}")"
    docker cp "$tmp/web-standin.sh" "$cid:/usr/local/bin/web-standin.sh" >/dev/null
    docker cp "$busybox" "$cid:/usr/local/bin/busybox" >/dev/null
    local tag v fail
    for tag in "${WEB_VERSION_TAGS[@]}"; do
        v="${tag##*:web_v}"; fail=""
        case "$v" in *-fails) v="${v%-fails}"; fail=1 ;; esac
        docker commit \
            --change 'ENTRYPOINT ["/usr/local/bin/web-standin.sh"]' --change 'CMD []' \
            --change "ENV STANDIN_SCHEMA_VERSION=$v" \
            --change "ENV STANDIN_FAIL_AFTER_MIGRATE=$fail" \
            --change "LABEL org.opencontainers.image.version=$v" \
            --change "LABEL $LABEL_KEY=standin-web-v$v${fail:+-fails}" \
            --change 'EXPOSE 8002' "$cid" "$tag" >/dev/null
        BUILT+=("$tag")
        log "built $tag ($(image_id "$tag" | cut -c8-19))"
    done
    docker rm "$cid" >/dev/null
    rm -rf "$tmp"
    log_done "$t0" "versioned web stand-ins done"
}

# A statically linked busybox (installed when missing): its path.
static_busybox() {
    local busybox
    busybox="$(command -v busybox || true)"
    if [ -z "$busybox" ] || ! file_is_static "$busybox"; then
        { [ -x /bin/busybox ] && file_is_static /bin/busybox; } || apt_install busybox-static >&2
        busybox=/bin/busybox
    fi
    file_is_static "$busybox" || die "$busybox is not statically linked"
    echo "$busybox"
}

file_is_static() {
    # ldd (libc-bin, always there) says "not a dynamic executable" for a static binary
    [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------
# Images this run replaces: removed at the end if nothing uses them any more (no dangling leftovers).
OLD_IDS=()
for t in "${MYSQL_TAGS[@]}" "${REDIS_TAGS[@]}" "$SERVER_TAG" "$WEB_TAG" "${WEB_VERSION_TAGS[@]}"; do
    id="$(image_id "$t" || true)"; [ -z "$id" ] || OLD_IDS+=("$id")
done

need_mysql=0 need_redis=0
if [ "$REBUILD" = 1 ] || ! all_exist "${MYSQL_TAGS[@]}"; then need_mysql=1; fi
if [ "$REBUILD" = 1 ] || ! all_exist "${REDIS_TAGS[@]}"; then need_redis=1; fi
# Only some mysql tags missing: re-tag from the one present rather than rebuild.
if [ "$REBUILD" = 0 ] && [ "$need_mysql" = 1 ]; then
    for t in "${MYSQL_TAGS[@]}"; do
        if image_exists "$t" && [ "$(docker image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" "$t")" = mysql ]; then
            for u in "${MYSQL_TAGS[@]}"; do
                if image_exists "$u"; then SKIPPED+=("$u"); else docker tag "$t" "$u"; log "tagged $u (from $t)"; BUILT+=("$u"); fi
            done
            need_mysql=2
            break
        fi
    done
fi
[ "$need_mysql" != 0 ] || SKIPPED+=("${MYSQL_TAGS[@]}")
[ "$need_mysql" != 2 ] || need_mysql=0
[ "$need_redis" = 1 ] || SKIPPED+=("${REDIS_TAGS[@]}")

if [ "$need_mysql" = 1 ] || [ "$need_redis" = 1 ]; then
    if [ "$REBUILD_ROOTFS" = 1 ] || [ ! -f "$ROOTFS/etc/xzup-fixture-versions" ]; then
        build_rootfs
    else
        log "using cached rootfs $ROOTFS ($(head -2 "$ROOTFS/etc/xzup-fixture-versions" | tr '\n' ' '))"
    fi
    prepare_rootfs_files
    [ "$need_mysql" = 0 ] || build_mysql
    [ "$need_redis" = 0 ] || build_redis
fi
build_standins
build_versioned_webs
if [ "$REBUILD" = 1 ] || ! image_exists redis:latest; then
    docker tag "${REDIS_TAGS[0]}" redis:latest; log "tagged redis:latest (from ${REDIS_TAGS[0]})"; BUILT+=(redis:latest)
else
    SKIPPED+=(redis:latest)
fi

for id in $(printf '%s\n' "${OLD_IDS[@]}" | sort -u); do
    if [ "$(docker image inspect --format '{{len .RepoTags}}' "$id" 2>/dev/null)" = 0 ]; then
        docker rmi "$id" >/dev/null 2>&1 && log "removed replaced image ${id:7:12}" \
            || log "kept replaced image ${id:7:12} (still used by a container)"
    fi
done
log "built: ${BUILT[*]:-nothing}"
log "already present (kept): ${SKIPPED[*]:-none}"
for t in "${MYSQL_TAGS[@]}" "${REDIS_TAGS[@]}" redis:latest "$SERVER_TAG" "$WEB_TAG" "${WEB_VERSION_TAGS[@]}"; do
    docker image inspect --format '{{.Id}} {{.Size}}' "$t" \
        | awk -v t="$t" '{ printf "  %-66s %s  %5.1f MB\n", t, substr($1, 8, 12), $2 / 1e6 }' >&2
done
log_done "$XZUP_T0" "fixture images ready"
