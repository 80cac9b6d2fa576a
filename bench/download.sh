#!/usr/bin/env bash
# Download benchmark: one nginx (HTTP and HTTPS) and one pyftpdlib on 127.0.0.1
# serve the same signed 256 MiB MCUboot image; in one run we measure, alternating,
#  HTTP: `curl -o FILE` and a full `AT#XFOTA=1` download on an emulated nRF9160
#        SLM up to `#XFOTA: 4,0` (signature verified, swap scheduled), plus the
#        same download of a 1 MiB image (for the RSS comparison);
#  HTTPS: `curl --cacert CA -o FILE` and `AT#XFOTA=1,"https://...",<sec_tag>`
#        to `#XFOTA: 4,0`, the CA (made by openssl here) written under the
#        sec_tag through AT%CMNG first (untimed);
#  FTP:  `curl ftp://... -o FILE` and `AT+GTOTA=1,...` on an emulated Fibocom
#        NL668 up to `GTOTA DOWNLOAD COMPLETE` (it then verifies, reboots and
#        installs by itself: waited for, timed apart, and in its peak RSS);
# `sha256sum` and `openssl dgst -sha256` of the big image (the cost of hashing
# alone), and the verification of the big image signed with every signature
# type (Ed25519, Ed25519 pure, ECDSA P-256/P-384, RSA-2048/3072 PSS) by
# crates/image/examples/verify_file.rs, streamed from the page cache.
#
# Usage: bench/download.sh [--runs N] [--size-mib M] [--small-mib M] [--out FILE]
#   --runs N       measured runs of each kind (default 5)
#   --size-mib M   big payload size in MiB (default 256)
#   --small-mib M  small payload size in MiB (default 1)
#   --out FILE     also write the markdown report to FILE
# Environment: ATFOTA_BIN (default: target/release/atfota, built if missing),
# VERIFY_BIN (default: target/release/examples/verify_file, built if missing),
# BENCH_TMP (parent of the scratch directory, default $TMPDIR or /tmp).
#
# It installs what it lacks (nginx, curl, GNU time, openssl via apt-get,
# pyftpdlib via pip, as CI would), keeps everything in one scratch directory,
# and on exit stops the servers it started (by PID) and deletes the scratch
# directory. Wall times: curl and sha256sum from spawn to exit; atfota from
# sending the command to `#XFOTA: 4,0` or `GTOTA DOWNLOAD COMPLETE` (the device
# is created and booted before, untimed). Peak RSS: GNU time's "Maximum
# resident set size" of the whole process (for the modem: including its boot).
# Dirty pages are flushed (sync) before each timed region so that one tool's
# write-back is not billed to another.
set -euo pipefail

runs=5
size_mib=256
small_mib=1
out_file=""
while (($#)); do
    case "$1" in
        --runs) runs="${2:?--runs needs a value}"; shift 2 ;;
        --size-mib) size_mib="${2:?--size-mib needs a value}"; shift 2 ;;
        --small-mib) small_mib="${2:?--small-mib needs a value}"; shift 2 ;;
        --out) out_file="${2:?--out needs a value}"; shift 2 ;;
        -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "download.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for n in "$runs" "$size_mib" "$small_mib"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "download.sh: '$n' is not a positive integer" >&2; exit 2; }
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${ATFOTA_BIN:-$root/target/release/atfota}"
verify_bin="${VERIFY_BIN:-$root/target/release/examples/verify_file}"
# sec_tag of the CA in the HTTPS runs (the one Nordic's samples use).
sec_tag=16842753
# Signature types of the verification runs: label and key file stem in testdata/keys
# ("pure" marks `image sign --pure`).
verify_keys=("Ed25519:trusted-ed25519" "Ed25519 (pure):trusted-ed25519:pure" "ECDSA P-256:ecdsa-p256"
    "ECDSA P-384:ecdsa-p384" "RSA-2048 PSS:rsa-2048" "RSA-3072 PSS:rsa-3072")
measure=(python3 "$here/measure.py")
# pyftpdlib as tests/interop/install.sh pins it.
pyftpdlib_req="pyftpdlib==2.2.0"
# FTP account of the benchmark's own server: no shell- or URL-special characters.
ftp_user="bench"
ftp_pass="BenchPass2026"

log() { printf '[bench] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools

ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v curl >/dev/null || missing+=(curl)
    [[ -x /usr/bin/time ]] || missing+=(time)
    command -v python3 >/dev/null || missing+=(python3)
    command -v sha256sum >/dev/null || missing+=(coreutils)
    command -v openssl >/dev/null || missing+=(openssl)
    if ((${#missing[@]})); then
        log "installing ${missing[*]} with apt-get"
        local sudo=()
        ((EUID == 0)) || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! python3 -c 'import pyftpdlib' 2>/dev/null; then
        log "installing $pyftpdlib_req with pip"
        python3 -m pip install --quiet --disable-pip-version-check "$pyftpdlib_req"
    fi
    if [[ -n "${ATFOTA_BIN:-}" && ! -x "$bin" ]]; then
        echo "download.sh: ATFOTA_BIN=$bin is not an executable file" >&2
        exit 1
    fi
    if [[ ! -x "$bin" ]]; then
        log "building the release binary (a few minutes)"
        (cd "$root" && CARGO_TARGET_DIR="$root/target" cargo build --release --bin atfota)
    fi
    if [[ -n "${VERIFY_BIN:-}" && ! -x "$verify_bin" ]]; then
        echo "download.sh: VERIFY_BIN=$verify_bin is not an executable file" >&2
        exit 1
    fi
    if [[ ! -x "$verify_bin" ]]; then
        log "building the verification example"
        (cd "$root" && CARGO_TARGET_DIR="$root/target" cargo build --release -p atfota-image --example verify_file)
    fi
}

nginx_bin() { command -v nginx || echo /usr/sbin/nginx; }

# ---------------------------------------------------------------- scratch + server

work=""
nginx_pid=""
ftp_pid=""
cleanup() {
    local status=$?
    if ((status != 0 && status != 130 && status != 143)) && [[ -n "$work" && -s "$work/modem.log" ]]; then
        echo "download.sh: failed; the last lines of the modem's log:" >&2
        tail -n 20 "$work/modem.log" >&2
    fi
    local pid
    for pid in "$nginx_pid" "$ftp_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ -n "$work" ]]; then
        rm -rf -- "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

make_payloads() {
    # Pseudo-random, fixed seed: AES-128-CTR keystream of zeros (fast, and the
    # same bytes every run, so results are comparable across runs).
    local name mib
    for pair in "big:$size_mib" "small:$small_mib"; do
        name="${pair%%:*}"; mib="${pair#*:}"
        openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
            -iv 00000000000000000000000000000000 </dev/zero 2>/dev/null \
            | head -c "$((mib * 1024 * 1024))" >"$work/$name.payload" || true
        [[ $(stat -c %s "$work/$name.payload") -eq $((mib * 1024 * 1024)) ]] \
            || { echo "download.sh: could not make the $mib MiB payload" >&2; exit 1; }
        if ! "$bin" image sign "$work/$name.payload" "$work/www/$name.bin" --version 2.0.0 \
            >/dev/null 2>"$work/sign.log"; then
            echo "download.sh: signing the $mib MiB payload failed:" >&2
            cat "$work/sign.log" >&2
            exit 1
        fi
        if [[ "$name" == big ]]; then
            sign_every_type "$work/$name.payload"
        fi
        rm -f "$work/$name.payload"
    done
}

# The big payload signed with every signature type, for the verification runs.
sign_every_type() {
    local spec label stem pure
    mkdir -p "$work/verify"
    for spec in "${verify_keys[@]}"; do
        IFS=: read -r label stem pure <<<"$spec"
        if ! "$bin" image sign "$1" "$work/verify/$stem${pure:+-pure}.bin" --version 2.0.0 \
            --key "$root/testdata/keys/$stem.pem" ${pure:+--pure} >/dev/null 2>"$work/sign.log"; then
            echo "download.sh: signing the $size_mib MiB payload ($label) failed:" >&2
            cat "$work/sign.log" >&2
            exit 1
        fi
    done
}

# A CA and a server certificate for 127.0.0.1 (P-256, as tests/interop/tls.sh makes them).
make_certificates() {
    (
        cd "$work"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
            -out ca.crt -days 30 -subj "/CN=atfota bench CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
            -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1" >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
            -days 30 -extfile server.ext 2>/dev/null
        chmod a+r server.crt server.key
    ) || { echo "download.sh: openssl could not make the certificates" >&2; exit 1; }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_nginx() {
    mkdir -p "$work/logs" "$work/tmp"
    port="$(free_port)"
    tls_port="$(free_port)"
    cat >"$work/nginx.conf" <<EOF
worker_processes 1;  pid nginx.pid;  error_log stderr warn;
events { worker_connections 256; }
http {
  log_format tls '\$server_port \$request \$status \$body_bytes_sent \$ssl_protocol \$ssl_cipher';
  access_log logs/access.log tls;  default_type application/octet-stream;  sendfile on;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server { listen 127.0.0.1:$port; root www; }
  server { listen 127.0.0.1:$tls_port ssl; root www; ssl_protocols TLSv1.2 TLSv1.3;
           ssl_certificate server.crt; ssl_certificate_key server.key; }
}
EOF
    "$(nginx_bin)" -p "$work" -c nginx.conf -e stderr -g 'daemon off;' 2>>"$work/nginx.log" &
    nginx_pid=$!
    for _ in $(seq 50); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/small.bin" 2>/dev/null \
            && curl -fsS --cacert "$work/ca.crt" -o /dev/null "https://127.0.0.1:$tls_port/small.bin" 2>/dev/null; then
            return 0
        fi
        kill -0 "$nginx_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "download.sh: nginx did not come up on 127.0.0.1:$port:" >&2
    cat "$work/nginx.log" >&2
    exit 1
}

start_ftp() {
    ftp_port="$(free_port)"
    # Ten passive ports in 30000-39999, likely free (pyftpdlib skips busy ones).
    local lo=$((30000 + (RANDOM % 1000) * 10))
    python3 -m pyftpdlib -i 127.0.0.1 -p "$ftp_port" -u "$ftp_user" -P "$ftp_pass" \
        -d "$work/www" -r "$lo-$((lo + 9))" 2>>"$work/ftp.log" &
    ftp_pid=$!
    for _ in $(seq 50); do
        if curl -fsS -o /dev/null "$(ftp_url small.bin)" 2>/dev/null; then
            return 0
        fi
        kill -0 "$ftp_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "download.sh: pyftpdlib did not come up on 127.0.0.1:$ftp_port:" >&2
    tail -n 20 "$work/ftp.log" >&2
    exit 1
}

ftp_url() { printf 'ftp://%s:%s@127.0.0.1:%s/%s' "$ftp_user" "$ftp_pass" "$ftp_port" "$1"; }

# ---------------------------------------------------------------- measurements

machine_meta() {
    local cpu
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    printf '%s\n' \
        "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
        "machine=$(nproc) CPUs, ${cpu:-unknown CPU}$(grep -q -m1 sha_ni /proc/cpuinfo && echo ', SHA-NI'), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)" \
        "kernel=$(uname -r)" \
        "load average (1/5/15 min)=$load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after (other jobs share the CPUs)" \
        "scratch filesystem=$(df -T "$work" | awk 'NR == 2 {print $2}') ($work)" \
        "tools=$("$(nginx_bin)" -v 2>&1 | sed 's/^nginx version: //'), pyftpdlib $(python3 -c 'import importlib.metadata as m; print(m.version("pyftpdlib"))' 2>/dev/null || echo '?') on Python $(python3 -c 'import platform; print(platform.python_version())'), $(curl --version | head -1 | cut -d' ' -f1-2), $("$bin" --version) (binary built $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC'))" \
        "image=$(stat -c %s "$work/www/big.bin") bytes ($size_mib MiB payload signed), small image $(stat -c %s "$work/www/small.bin") bytes" \
        "TLS (nginx's log: requests, protocol, cipher)=$(awk -v p="$tls_port" '$1 == p {print $(NF - 1), $NF}' "$work/logs/access.log" | sort | uniq -c | sed 's/^ *//' | paste -sd ';' -) (curl and atfota)" \
        "openssl=$(openssl version)" \
        "slot size=$slot_size (same device geometry for both image sizes and both profiles)"
}

run_all() {
    local big_bytes small_bytes i
    big_bytes="$(stat -c %s "$work/www/big.bin")"
    small_bytes="$(stat -c %s "$work/www/small.bin")"
    results="$work/results.jsonl"
    : >"$results"

    # Warm-up (not recorded): the file into the page cache (both servers
    # read the same one), every path once.
    curl -fsS -o /dev/null "http://127.0.0.1:$port/big.bin"
    curl -fsS -o /dev/null "$(ftp_url big.bin)"
    curl -fsS --cacert "$work/ca.crt" -o /dev/null "https://127.0.0.1:$tls_port/big.bin"
    cat "$work"/verify/*.bin >/dev/null
    "${measure[@]}" xfota --label warm-up --bytes "$small_bytes" --out "$work/warmup.jsonl" \
        --bin "$bin" --data "$work/dev-warm" --slot-size "$slot_size" \
        --url "http://127.0.0.1:$port/small.bin" --log "$work/modem.log" 2>/dev/null
    rm -rf "$work/dev-warm"
    "${measure[@]}" gtota --label warm-up --bytes "$small_bytes" --out "$work/warmup.jsonl" \
        --bin "$bin" --data "$work/dev-warm" --slot-size "$slot_size" --server "127.0.0.1:$ftp_port" \
        --file small.bin --user "$ftp_user" --password "$ftp_pass" --log "$work/modem.log" 2>/dev/null
    rm -rf "$work/dev-warm"

    for ((i = 1; i <= runs; i++)); do
        log "run $i/$runs"
        rm -f "$work/curl.out"
        "${measure[@]}" exec --label "curl -o FILE" --bytes "$big_bytes" --out "$results" -- \
            curl -fsS -o "$work/curl.out" "http://127.0.0.1:$port/big.bin"
        rm -f "$work/curl.out"

        "${measure[@]}" xfota --label "atfota AT#XFOTA=1" --bytes "$big_bytes" --out "$results" \
            --bin "$bin" --data "$work/dev" --slot-size "$slot_size" \
            --url "http://127.0.0.1:$port/big.bin" --log "$work/modem.log"
        rm -rf "${work:?}/dev"

        "${measure[@]}" exec --label "curl -o FILE (small image)" --bytes "$small_bytes" --out "$results" -- \
            curl -fsS -o "$work/curl.out" "http://127.0.0.1:$port/small.bin"
        rm -f "$work/curl.out"

        "${measure[@]}" xfota --label "atfota AT#XFOTA=1 (small image)" --bytes "$small_bytes" \
            --out "$results" --bin "$bin" --data "$work/dev" --slot-size "$slot_size" \
            --url "http://127.0.0.1:$port/small.bin" --log "$work/modem.log"
        rm -rf "${work:?}/dev"

        # shellcheck disable=SC2016 # $1 is expanded by the inner sh, on purpose.
        "${measure[@]}" exec --label "sha256sum" --bytes "$big_bytes" --out "$results" -- \
            sh -c 'exec sha256sum "$1" >/dev/null' sh "$work/www/big.bin"

        "${measure[@]}" exec --label "curl ftp:// -o FILE" --bytes "$big_bytes" --out "$results" -- \
            curl -fsS -o "$work/curl.out" "$(ftp_url big.bin)"
        rm -f "$work/curl.out"

        "${measure[@]}" gtota --label "atfota AT+GTOTA=1" --bytes "$big_bytes" --out "$results" \
            --bin "$bin" --data "$work/dev" --slot-size "$slot_size" --server "127.0.0.1:$ftp_port" \
            --file big.bin --user "$ftp_user" --password "$ftp_pass" --log "$work/modem.log"
        rm -rf "${work:?}/dev"

        "${measure[@]}" exec --label "curl --cacert CA -o FILE (https)" --bytes "$big_bytes" --out "$results" -- \
            curl -fsS --cacert "$work/ca.crt" -o "$work/curl.out" "https://127.0.0.1:$tls_port/big.bin"
        rm -f "$work/curl.out"

        "${measure[@]}" xfota --label "atfota AT#XFOTA=1 (https)" --bytes "$big_bytes" --out "$results" \
            --bin "$bin" --data "$work/dev" --slot-size "$slot_size" --sec-tag "$sec_tag" --ca "$work/ca.crt" \
            --url "https://127.0.0.1:$tls_port/big.bin" --log "$work/modem.log"
        rm -rf "${work:?}/dev"

        # shellcheck disable=SC2016 # $1 is expanded by the inner sh, on purpose.
        "${measure[@]}" exec --label "openssl dgst -sha256" --bytes "$big_bytes" --out "$results" -- \
            sh -c 'exec openssl dgst -sha256 "$1" >/dev/null' sh "$work/www/big.bin"
        verify_every_type "$big_bytes"
    done
}

verify_every_type() {
    local spec label stem pure
    for spec in "${verify_keys[@]}"; do
        IFS=: read -r label stem pure <<<"$spec"
        "${measure[@]}" exec --label "verify_file $label" --bytes "$1" --out "$results" -- \
            "$verify_bin" "$work/verify/$stem${pure:+-pure}.bin" "$root/testdata/keys/$stem.pub.pem"
    done
}

main() {
    ensure_tools
    work="$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/atfota-bench.XXXXXX")"
    # nginx's worker drops privileges when started as root: it must be able
    # to walk into the scratch directory.
    chmod 755 "$work"
    mkdir -p "$work/www"
    # Runs use a copy: a rebuild of target/release during the run (other work
    # shares this tree) must not mix two builds in one report.
    cp -p "$bin" "$work/atfota"
    bin="$work/atfota"
    cp -p "$verify_bin" "$work/verify_file"
    verify_bin="$work/verify_file"
    # The slot must hold the image plus the MCUboot trailer: 4 MiB of room.
    slot_size="$((size_mib + 4))M"

    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    log "making and signing the ${size_mib} MiB and ${small_mib} MiB images"
    make_payloads
    make_certificates
    start_nginx
    start_ftp
    log "nginx (pid $nginx_pid) serves http://127.0.0.1:$port/ and https://127.0.0.1:$tls_port/, pyftpdlib (pid $ftp_pid)" \
        "ftp://127.0.0.1:$ftp_port/; $runs runs of each measurement"
    run_all

    local meta=() line
    while IFS= read -r line; do meta+=(--meta "$line"); done < <(machine_meta)
    report="$("${measure[@]}" report "$results" "${meta[@]}")"
    printf '\n%s' "$report"
    if [[ -n "$out_file" ]]; then
        printf '%s' "$report" >"$out_file"
        log "report written to $out_file"
    fi
}

main
