#!/usr/bin/env bash
# Fleet benchmark: ONE `atfota modem --instances N` process (nrf9160-slm devices, data on tmpfs)
# and one nginx on 127.0.0.1; `atfota campaign --concurrency N` updates all of them at once
# with a signed 1 MiB application image: download, `#XFOTA: 4,0`, `AT#XRESET`, swap, boot,
# `#XFOTA: 5,0`. Measured in the same run: the campaign's wall time; the modem process's peak
# RSS (VmHWM), its most threads and open file descriptors (sampled every 0.2 s); its CPU while
# N devices sit idle (10 s); the start-up time of the fleet; and, for comparison, the same
# campaign against a single device.
#
# Usage: bench/fleet.sh [--instances N] [--image-kib K] [--out FILE]
# Environment: ATFOTA_BIN (default target/release/atfota, built if missing), BENCH_TMP (where
# the devices live, default /dev/shm: a fleet in CI is throw-away state).
# Installs nginx with apt-get if missing. Stops what it started (by PID) and deletes its
# scratch directory on exit.
set -euo pipefail

n=1000
image_kib=1024
out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --instances) n="$2"; shift 2 ;;
        --image-kib) image_kib="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "usage: $0 [--instances N] [--image-kib K] [--out FILE]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
bin="${ATFOTA_BIN:-target/release/atfota}"
[[ -x "$bin" ]] || cargo build --release --quiet
bin="$(realpath "$bin")"
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || { apt-get install -y -qq nginx-light >/dev/null || apt-get install -y -qq nginx >/dev/null; }
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d "${BENCH_TMP:-/dev/shm}/atfota-fleet.XXXXXX")"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# N free consecutive ports on loopback, starting at the printed base.
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(base); break
else:
    sys.exit("no free port range")
PY
}
now() { date +%s.%N; }

# The image (built-in development key) and a small modem firmware (keeps each device small).
mkdir -p "$work/www"
head -c $((image_kib * 1024)) /dev/urandom >"$work/body.bin"
"$bin" image sign --version 2.0.0 "$work/body.bin" "$work/www/app.bin" >/dev/null
head -c 65536 /dev/urandom >"$work/modem.bin"
slot_kib=$(( (image_kib + 64 + 3) / 4 * 4 ))
# nginx's worker drops privileges when started as root: it must be able to read the image.
chmod 755 "$work" "$work/www"
chmod 644 "$work/www/app.bin"

http_port="$(free_ports 1)"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;  pid nginx.pid;  error_log stderr warn;
events { worker_connections 4096; }
http { access_log off; sendfile on;
  server { listen 127.0.0.1:$http_port; root $work/www; } }
CONF
"$nginx_bin" -p "$work" -c nginx.conf -e stderr -g 'daemon off;' 2>"$work/nginx.log" &
pids+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$http_port/app.bin" && break; sleep 0.1; done
url="http://127.0.0.1:$http_port/app.bin"

# Starts a fleet of $1 devices in $2; sets fleet_pid, at_base, ctl_base, start_s.
start_fleet() {
    local count="$1" dir="$2"
    at_base="$(free_ports "$count")"
    ctl_base="$(free_ports "$count")"
    local t0; t0="$(now)"
    RUST_LOG=warn "$bin" modem --instances "$count" --data "$dir" --slot-size "${slot_kib}K" \
        --modem-firmware "$work/modem.bin" --modem-version bench-1 \
        --listen "tcp:127.0.0.1:$at_base" --control "tcp:127.0.0.1:$ctl_base" \
        </dev/null >/dev/null 2>"$dir.log" &
    fleet_pid=$!
    pids+=("$fleet_pid")
    until "$bin" ctl --control "tcp:127.0.0.1:$((ctl_base + count - 1))" status >/dev/null 2>&1; do
        kill -0 "$fleet_pid" 2>/dev/null || { cat "$dir.log" >&2; exit 1; }
        sleep 0.1
    done
    start_s="$(python3 -c "print(f'{$(now) - $t0:.2f}')")"
}

# CPU seconds (user + system) of a process.
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

# Samples threads, descriptors and RSS of $1 into $2 until $3 exists.
sample() {
    local pid="$1" file="$2" stop="$3"
    while [[ ! -e "$stop" ]] && kill -0 "$pid" 2>/dev/null; do
        echo "$(awk '/^Threads/ {print $2}' "/proc/$pid/status") $(ls "/proc/$pid/fd" | wc -l) $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")" >>"$file"
        sleep 0.2
    done
}

campaign() {
    local count="$1" report="$2"
    local t0; t0="$(now)"
    set +e
    "$bin" campaign --profile nrf9160-slm --ports "tcp:127.0.0.1:$at_base+$count" --url "$url" \
        --concurrency "$count" --stall-timeout 60 --json >"$report" 2>"$report.err"
    code=$?
    set -e
    wall_s="$(python3 -c "print(f'{$(now) - $t0:.2f}')")"
}

updated() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sum(d['outcome']=='updated' for d in r['devices']))" "$1"; }

# One device, for comparison.
start_fleet 1 "$work/one"
campaign 1 "$work/one.json"
one_s="$wall_s"; one_updated="$(updated "$work/one.json")"
kill "$fleet_pid"; wait "$fleet_pid" 2>/dev/null || true

# The fleet.
start_fleet "$n" "$work/fleet"
fleet_start_s="$start_s"
idle0="$(cpu_s "$fleet_pid")"; sleep 10; idle1="$(cpu_s "$fleet_pid")"
idle_pct="$(python3 -c "print(f'{($idle1 - $idle0) / 10 * 100:.2f}')")"
threads_idle="$(awk '/^Threads/ {print $2}' "/proc/$fleet_pid/status")"
fds_idle="$(ls "/proc/$fleet_pid/fd" | wc -l)"
rss_idle_kib="$(awk '/^VmRSS/ {print $2}' "/proc/$fleet_pid/status")"
sample "$fleet_pid" "$work/samples" "$work/stop" &
sampler=$!
cpu0="$(cpu_s "$fleet_pid")"
campaign "$n" "$work/fleet.json"
cpu1="$(cpu_s "$fleet_pid")"
touch "$work/stop"; wait "$sampler" || true
fleet_updated="$(updated "$work/fleet.json")"
hwm_kib="$(awk '/^VmHWM/ {print $2}' "/proc/$fleet_pid/status")"
read -r max_threads max_fds max_rss_kib < <(awk 'BEGIN {t=0; f=0; r=0} {if ($1>t) t=$1; if ($2>f) f=$2; if ($3>r) r=$3} END {print t, f, r}' "$work/samples")
disk="$(du -sh "$work/fleet" | cut -f1)"
summary="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['summary'])" "$work/fleet.json" 2>/dev/null || echo '?')"

report="$(cat <<MD
### Fleet benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs)

One \`atfota modem --instances $n\` process (nrf9160-slm, ${slot_kib} KiB slots, 64 KiB modem
firmware, data on $(df --output=fstype "$work" | tail -1)); \`atfota campaign --concurrency $n\` with a ${image_kib} KiB
image from one nginx (download, 4,0, AT#XRESET, swap, 5,0).

| measure | value |
|---|---|
| devices updated | $fleet_updated of $n (campaign exit $code; summary $summary) |
| campaign wall time, $n devices | $wall_s s |
| campaign wall time, 1 device | $one_s s ($one_updated of 1 updated) |
| modem process CPU during the campaign | $(python3 -c "print(f'{$cpu1 - $cpu0:.1f}')") s |
| fleet start-up (process start to the last control channel answering) | $fleet_start_s s |
| peak RSS of the modem process (VmHWM) | $((hwm_kib / 1024)) MiB ($((hwm_kib / n)) KiB per device) |
| RSS idle after start-up | $((rss_idle_kib / 1024)) MiB |
| threads: idle / most during the campaign | $threads_idle / $max_threads |
| open descriptors: idle / most during the campaign | $fds_idle / $max_fds |
| CPU of $n idle devices (10 s) | $idle_pct % of one core |
| data on disk | $disk |
MD
)"
echo "$report"
[[ -z "$out" ]] || echo "$report" >>"$out"
