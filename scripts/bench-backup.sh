#!/usr/bin/env bash
# Benchmarks `xzup backup` and `xzup restore` against tar on the same data, in one run.
#
# Builds (once; cached) a data set of about 630 MB shaped like a deployment: a MySQL datadir
# of 16 KiB InnoDB-like pages (text-like rows, zero pages, random pages) and an uploadfile dir
# of mixed files, plus a minimal compose file. Then times, median of N runs each:
#   tar -czf, tar -I pigz -cf (when pigz is installed), xzup backup (default level, verified),
#   tar -xzf, xzup restore
# and prints the medians, the archive sizes, the ratios, and each command's peak memory.
#
# Usage: scripts/bench-backup.sh [-n RUNS] [-l LEVEL]   (RUNS default 3; LEVEL: xzup's default)
# Env:   XZUP_BENCH_CACHE  where the data set is kept (default ~/.cache/xzup-bench)
#        XZUP_BENCH_WORK   scratch for archives and restores (default: a temp dir beside the cache)
#        XZUP_BIN          an xzup binary to use instead of building `cargo build --release`
# Targets (issue 3): backup <= 0.30 x tar -czf time, archive <= 1.05 x tar's size,
#   restore no slower than tar -xzf, peak memory < 64 MiB.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS=3
LEVEL=()
while [ $# -gt 0 ]; do
    case "$1" in
        -n) RUNS="$2"; shift 2 ;;
        -l) LEVEL=(--level "$2"); shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (usage: $0 [-n RUNS] [-l LEVEL])" ;;
    esac
done
[ "$RUNS" -ge 1 ] 2>/dev/null || die "-n takes a positive number, not \`$RUNS\`"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XZUP_BENCH_CACHE:-$HOME/.cache/xzup-bench}"
DATA_VERSION=1
DEPLOY="$CACHE/deploy-v$DATA_VERSION"
PATHS=(mysql/data uploadfile data docker-compose.yml)

command -v python3 >/dev/null || die "python3 is needed to build the data set"
[ -x /usr/bin/time ] || apt_install time
/usr/bin/time -f %M true >/dev/null 2>&1 || die "/usr/bin/time does not take -f (GNU time needed)"

# ---------------------------------------------------------------------------------------
# The data set (deterministic: the same bytes on every machine and every run).
build_data() {
    local t0; t0="$(_xzup_now)"
    log "building the data set in $DEPLOY (once)"
    rm -rf "$DEPLOY.tmp"
    mkdir -p "$DEPLOY.tmp"
    python3 - "$DEPLOY.tmp" <<'PY'
import os, random, sys, zlib

root = sys.argv[1]
PAGE = 16384
MTIME = 1_735_689_600  # 2025-01-01

WORDS = ("小智 你好 今天 天气 怎么样 播放 音乐 设置 闹钟 打开 灯 关闭 空调 温度 明天 北京 上海 "
         "hello weather music alarm light temperature tomorrow agent device session token reply "
         "user assistant memory model tts asr llm intent function_call volume battery online "
         "firmware ota wifi mqtt websocket").split()

def text_page(rng, page_no):
    """An InnoDB-like index page: FIL header, rows of a chat-history table, trailer."""
    rows = []
    size = 38 + 120
    while size < PAGE - 8:
        n = rng.randint(3, 24)
        row = "%d\x00%032x\x00%s\x00%s\x00%d-%02d-%02d %02d:%02d:%02d\x00" % (
            rng.randint(1, 10**9), rng.getrandbits(128),
            rng.choice(("user", "assistant", "system")),
            " ".join(rng.choice(WORDS) for _ in range(n)),
            rng.choice((2024, 2025)), rng.randint(1, 12), rng.randint(1, 28),
            rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
        b = row.encode()
        rows.append(b)
        size += len(b)
    body = b"".join(rows)[: PAGE - 38 - 120 - 8]
    header = fil_header(rng, page_no, 17855)
    page = header + bytes(120) + body
    return page + bytes(PAGE - 8 - len(page)) + rng.getrandbits(64).to_bytes(8, "little")

def fil_header(rng, page_no, page_type):
    return (rng.getrandbits(32).to_bytes(4, "big") + page_no.to_bytes(4, "big")
            + (page_no - 1).to_bytes(4, "big", signed=True)
            + (page_no + 1).to_bytes(4, "big") + rng.getrandbits(64).to_bytes(8, "big")
            + page_type.to_bytes(2, "big") + bytes(8) + (0).to_bytes(4, "big"))

def zero_page(rng, page_no):
    return fil_header(rng, page_no, 0) + bytes(PAGE - 38)

def random_page(rng, page_no):
    return fil_header(rng, page_no, 17855) + rng.randbytes(PAGE - 38)

# Text pages are costly to make in Python: make a pool, and give each copy its own header
# (page number, LSN, checksum). Copies of one page are rarely within deflate's 32 KiB window.
pool_rng = random.Random(7)
POOL = [text_page(pool_rng, i)[38:] for i in range(3000)]

def write_tablespace(path, pages, mix):
    """mix = (text, zero, random) weights."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = random.Random(zlib.crc32(path.encode()))
    with open(path, "wb") as f:
        for no in range(pages):
            kind = rng.choices(("t", "z", "r"), mix)[0]
            if kind == "t":
                f.write(fil_header(rng, no, 17855) + POOL[rng.randrange(len(POOL))])
            elif kind == "z":
                f.write(zero_page(rng, no))
            else:
                f.write(random_page(rng, no))
    os.utime(path, (MTIME, MTIME))

MB = 1024 * 1024 // PAGE  # pages per MiB
db = os.path.join(root, "mysql/data")
write_tablespace(f"{db}/ibdata1", 76 * MB, (40, 50, 10))
write_tablespace(f"{db}/mysql.ibd", 24 * MB, (60, 30, 10))
write_tablespace(f"{db}/undo_001", 16 * MB, (20, 70, 10))
write_tablespace(f"{db}/undo_002", 16 * MB, (20, 70, 10))
for i in range(2):
    write_tablespace(f"{db}/#innodb_redo/#ib_redo{i}", 48 * MB, (30, 40, 30))
write_tablespace(f"{db}/#innodb_temp/temp_1.ibt", 5 * MB, (0, 100, 0))
tables = [("ai_agent_chat_history", 190), ("ai_agent_chat_audio", 80), ("sys_params", 3),
          ("ai_device", 6), ("ai_agent", 2), ("sys_user", 1), ("ai_model_config", 1),
          ("ai_tts_voice", 2), ("sys_dict_data", 1), ("ai_voiceprint", 9)]
tables += [("t_%02d" % i, 0) for i in range(30)]
for name, mib in tables:
    pages = mib * MB if mib else 7
    write_tablespace(f"{db}/xiaozhi_esp32_server/{name}.ibd", pages, (65, 20, 15))
for schema in ("sys", "performance_schema"):
    for i in range(20):
        write_tablespace(f"{db}/{schema}/t{i}.ibd", 7, (50, 50, 0))
rng = random.Random(3)
for name, size in (("auto.cnf", 56), ("ca.pem", 1112), ("server-cert.pem", 1112),
                   ("private_key.pem", 1676), ("binlog.index", 32)):
    with open(f"{db}/{name}", "wb") as f:
        f.write(rng.randbytes(size // 2).hex().encode()[:size])
    os.utime(f"{db}/{name}", (MTIME, MTIME))

up = os.path.join(root, "uploadfile")
os.makedirs(up, exist_ok=True)
rng = random.Random(11)
for i in range(400):
    size = int(min(3 << 20, max(2048, rng.lognormvariate(11.2, 1.3))))
    kind = rng.choices(("jpg", "json", "wav"), (60, 25, 15))[0]
    path = f"{up}/{2024 + i % 2}{1 + i % 12:02d}/{i:04x}{rng.getrandbits(32):08x}.{kind}"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        if kind == "jpg":  # compressed already
            f.write(b"\xff\xd8\xff\xe0" + rng.randbytes(size))
        elif kind == "json":
            words = " ".join(rng.choice(WORDS) for _ in range(size // 6))
            f.write(('{"reply": "%s"}' % words).encode()[:size])
        else:  # PCM-ish: small samples, partly compressible
            f.write(b"RIFF" + bytes(b & 0x1f for b in rng.randbytes(size)))
    os.utime(path, (MTIME, MTIME))

os.makedirs(os.path.join(root, "data"), exist_ok=True)
with open(os.path.join(root, "data/.config.yaml"), "w") as f:
    f.write("server:\n  ip: 0.0.0.0\n  port: 8000\nmanager-api:\n  url: http://xiaozhi-esp32-server-web:8002/xiaozhi\n")
PY
    # A minimal compose file of the upstream shape: the db and web bind mounts are what
    # `xzup backup` discovers and archives.
    cat >"$DEPLOY.tmp/docker-compose.yml" <<'YML'
services:
  xiaozhi-esp32-server:
    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:server_latest
    volumes:
      - ./data:/opt/xiaozhi-esp32-server/data
  xiaozhi-esp32-server-web:
    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_latest
    volumes:
      - ./uploadfile:/uploadfile
  xiaozhi-esp32-server-db:
    image: mysql:latest
    volumes:
      - ./mysql/data:/var/lib/mysql
  xiaozhi-esp32-server-redis:
    image: redis
YML
    # MySQL's datadir belongs to the container's mysql user (uid 999 in the official image).
    if [ "$(id -u)" = 0 ]; then chown -R 999:999 "$DEPLOY.tmp/mysql/data"; fi
    mv "$DEPLOY.tmp" "$DEPLOY"
    log_done "$t0" "data set ready"
}

[ -d "$DEPLOY" ] || build_data
DATA_BYTES="$(du -sb --apparent-size "${PATHS[@]/#/$DEPLOY/}" | awk '{s += $1} END {print s}')"
log "data set: $DEPLOY ($((DATA_BYTES / 1000000)) MB in ${PATHS[*]})"

# ---------------------------------------------------------------------------------------
# The binary, scratch space, a warm page cache (every command reads the data from memory).
if [ -n "${XZUP_BIN:-}" ]; then
    XZUP="$XZUP_BIN"
else
    t0="$(_xzup_now)"
    (cd "$REPO" && cargo build --release --quiet)
    XZUP="$REPO/target/release/xzup"
    log_done "$t0" "built $XZUP"
fi
WORK="${XZUP_BENCH_WORK:-$CACHE/work}"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
find "${PATHS[@]/#/$DEPLOY/}" -type f -exec cat {} + >/dev/null
PIGZ=""
command -v pigz >/dev/null && PIGZ=pigz
# xzup runs with an empty PATH: before it starts, `xzup backup` asks Docker whether the
# stack runs, and the `docker compose` CLI it spawns (about 40 MB) would otherwise be the
# peak memory reported. Without a docker binary the check is skipped; xzup needs nothing
# else from PATH.
mkdir -p "$WORK/empty-path"
XZUP_ENV=(env "PATH=$WORK/empty-path")

# timed LABEL CMD...: runs CMD under GNU time; appends the wall seconds to $WORK/LABEL.s,
# the CPU seconds (user + system, children included) to LABEL.cpu and the peak RSS (KiB)
# to LABEL.kb. Dirty pages of the previous command are flushed first, so that no command
# pays for another's writes.
timed() {
    local label="$1"; shift
    sync
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/cmd.err" \
        || { cat "$WORK/cmd.err" >&2; die "$label failed: $*"; }
    read -r secs user sys kb <"$WORK/time.out"
    echo "$secs" >>"$WORK/$label.s"
    awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }' >>"$WORK/$label.cpu"
    echo "$kb" >>"$WORK/$label.kb"
}

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
peak() { sort -g "$1" | tail -1; }
size_of() { stat -c %s "$1"; }

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for run in $(seq 1 "$RUNS"); do
    t0="$(_xzup_now)"
    rm -f "$WORK"/*.tar.gz
    timed tar-czf tar -czf "$WORK/tar.tar.gz" -C "$DEPLOY" "${PATHS[@]}"
    if [ -n "$PIGZ" ]; then
        timed tar-pigz tar -I pigz -cf "$WORK/pigz.tar.gz" -C "$DEPLOY" "${PATHS[@]}"
    fi
    timed xzup-backup "${XZUP_ENV[@]}" "$XZUP" -q -C "$DEPLOY" backup "${LEVEL[@]}" --out "$WORK/xzup.tar.gz"
    for what in tar xzup; do
        rm -rf "$WORK/restore-$what"
        mkdir "$WORK/restore-$what"
    done
    timed tar-xzf tar -xzf "$WORK/tar.tar.gz" -C "$WORK/restore-tar"
    timed xzup-restore "${XZUP_ENV[@]}" "$XZUP" -q restore "$WORK/xzup.tar.gz" --to "$WORK/restore-xzup"
    rm -rf "$WORK"/restore-*
    log_done "$t0" "run $run of $RUNS"
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

TAR_S="$(median "$WORK/tar-czf.s")"
XZ_S="$(median "$WORK/xzup-backup.s")"
TAR_X="$(median "$WORK/tar-xzf.s")"
XZ_X="$(median "$WORK/xzup-restore.s")"
TAR_B="$(size_of "$WORK/tar.tar.gz")"
XZ_B="$(size_of "$WORK/xzup.tar.gz")"
XZ_KB="$(peak "$WORK/xzup-backup.kb")"
XR_KB="$(peak "$WORK/xzup-restore.kb")"

row() { printf '%-26s %9s %9s %12s %10s\n' "$@"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "ok" : "MISSED" }'; }

echo
echo "xzup backup/restore benchmark: $((DATA_BYTES / 1000000)) MB of data, median of $RUNS run(s), $(nproc) cores"
echo "xzup: $("$XZUP" --version), level ${LEVEL[1]:-default}; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cpu() { echo "$(median "$WORK/$1.cpu") s"; }
row "command" "wall" "cpu" "archive" "peak RSS"
row "tar -czf" "${TAR_S} s" "$(cpu tar-czf)" "$(mb "$TAR_B")" "$(mib "$(peak "$WORK/tar-czf.kb")")"
if [ -n "$PIGZ" ]; then
    row "tar -I pigz -cf" "$(median "$WORK/tar-pigz.s") s" "$(cpu tar-pigz)" \
        "$(mb "$(size_of "$WORK/pigz.tar.gz")")" "$(mib "$(peak "$WORK/tar-pigz.kb")")"
else
    row "tar -I pigz -cf" "-" "-" "-" "-"
fi
row "xzup backup (verified)" "${XZ_S} s" "$(cpu xzup-backup)" "$(mb "$XZ_B")" "$(mib "$XZ_KB")"
row "tar -xzf" "${TAR_X} s" "$(cpu tar-xzf)" "" "$(mib "$(peak "$WORK/tar-xzf.kb")")"
row "xzup restore (verified)" "${XZ_X} s" "$(cpu xzup-restore)" "" "$(mib "$XR_KB")"
echo "(medians; cpu = user + system seconds, all threads and child processes)"
echo
[ -n "$PIGZ" ] || echo "(pigz is not installed: no pigz row)"
BT="$(ratio "$XZ_S" "$TAR_S")"; BS="$(ratio "$XZ_B" "$TAR_B")"; RT="$(ratio "$XZ_X" "$TAR_X")"
MAXKB=$(( XZ_KB > XR_KB ? XZ_KB : XR_KB ))
printf 'backup time   xzup / tar -czf = %s   (target <= 0.30: %s)\n' "$BT" "$(verdict "$BT" 0.30)"
if [ -n "$PIGZ" ]; then
    printf 'backup time   pigz / tar -czf = %s\n' "$(ratio "$(median "$WORK/tar-pigz.s")" "$TAR_S")"
fi
# On a busy machine the wall times say more about the other load than about the tools;
# the CPU seconds spread over the cores give the figure an idle machine would show.
printf 'backup time   xzup / tar -czf, from cpu seconds over %s cores = %s\n' "$(nproc)" \
    "$(awk -v x="$(median "$WORK/xzup-backup.cpu")" -v t="$(median "$WORK/tar-czf.cpu")" -v n="$(nproc)" \
        'BEGIN { printf "%.2f", (x / n) / t }')"
printf 'archive size  xzup / tar -czf = %s   (target <= 1.05: %s)\n' "$BS" "$(verdict "$BS" 1.05)"
printf 'restore time  xzup / tar -xzf = %s   (target <= 1.00: %s)\n' "$RT" "$(verdict "$RT" 1.00)"
printf 'peak memory   xzup            = %s   (target < 64 MiB: %s)\n' "$(mib "$MAXKB")" \
    "$(verdict "$MAXKB" 65535)"
