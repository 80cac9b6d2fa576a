#!/usr/bin/env bash
# FTP interop: the atfota-net FTP client (through its `fetch` example) and the emulated
# Fibocom NL668 (`atfota modem --profile nl668`, driven by ppp's chat over a PTY) against
# real servers: pyftpdlib (PyPI, installed by install.sh) and pure-ftpd, extracted from the
# Debian packages into a temporary directory (it conflicts with vsftpd as a package, so it
# is never installed). Per server: a byte-exact download of a file in a directory, a resume
# with REST from a truncated partial file, and a wrong password refused. pure-ftpd also
# exercises long multi-line 220-/150-/226- replies.
#
# Each check prints PASS or FAIL (SKIP when a server cannot run here); the script exits
# non-zero if any failed. Servers bind 127.0.0.1 on free ports, are stopped by PID and their
# directory removed on exit. ATFOTA_FTP_BENCH=1 also times 256 MiB from pyftpdlib with curl
# and with fetch (printed, never asserted). tests/interop/run.sh calls it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fetch=${ATFOTA_FETCH:-${CARGO_TARGET_DIR:-$root/target}/release/examples/fetch}
[ -x "$fetch" ] && [ -z "${ATFOTA_REBUILD:-}" ] \
  || (cd "$root" && cargo build --release --quiet -p atfota-net --example fetch)
source "$(dirname "$0")/lib.sh" ftp
skip() { printf 'SKIP  %s\n' "$*"; }
wait_port() { # $1 port: until something listens (5 s at most)
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
passive_range() { # ten ports in 30000-39999, likely free; both servers skip busy ones
  local base=$((30000 + (RANDOM % 1000) * 10)); echo "$base" "$((base + 9))"
}

user=modem
pass='Pa55-w0rd!'
pass_url='Pa55-w0rd%21'
size=3000017
mkdir -p "$d/www/fw"
head -c "$size" /dev/urandom >"$d/www/fw/pkg.bin"
head -c 400000 /dev/urandom >"$d/app-payload.bin"
"$bin" image sign "$d/app-payload.bin" "$d/www/fw/app.bin" --version 2.0.0 >/dev/null 2>&1
chmod -R a+rX "$d/www"

# The emulated NL668 updates itself from this server: AT+GTOTA=1 with the credentials,
# download, verification, automatic reboot, and the new version in AT+CGMR.
check_nl668() { # $1 name, $2 port
  local name=$1 port=$2 link="$d/$1.pty"
  "$bin" modem --profile nl668 --data "$d/$name.dev" --listen "pty:$link" 2>>"$d/$name.modem.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do [ -e "$link" ] && break; sleep 0.05; done
  if chat -s -t 60 ABORT 'GTOTA DOWNLOAD FAILED' ABORT 'GTOTA UPGRADE FAILED' ABORT ERROR \
       '' ATE0 OK "AT+GTOTA=1,\"127.0.0.1:$port\",\"fw/app.bin\",\"$user\",\"$pass\"" OK \
       '\c' 'GTOTA DOWNLOAD COMPLETE' '\c' RDY '\c' 'GTOTA UPGRADE SUCCESS' \
       'AT+CGMR' 'NL668-EAU_V2.0.0' <"$link" >"$link" 2>>"$d/$name.chat.log"; then
    pass "$name: the emulated NL668 downloads over FTP, installs by itself and reports 2.0.0"
  else fail "$name: NL668 update over FTP: $(tail -5 "$d/$name.modem.log")"; fi
  if grep -q "$pass" "$d/$name.modem.log"; then fail "$name: the password reached the modem's log"; fi
  kill "$pid" 2>/dev/null || true
}

# Runs the three checks against one server. $1 name, $2 port, $3 log file of the server.
check_server() {
  local name=$1 port=$2 log=$3 url out err
  url="ftp://$user:$pass_url@127.0.0.1:$port/fw/pkg.bin"
  out="$d/$name.bin"; err="$d/$name.err"

  if "$fetch" "$url" "$out" 2>"$err" && cmp -s "$out" "$d/www/fw/pkg.bin"; then
    pass "$name: full download of fw/pkg.bin is byte-exact"
  else fail "$name: full download: $(tail -2 "$err")"; fi

  local part=1234567
  head -c "$part" "$d/www/fw/pkg.bin" >"$out"
  if "$fetch" --resume "$url" "$out" 2>"$err" && grep -q "started at byte $part of $size" "$err" \
       && cmp -s "$out" "$d/www/fw/pkg.bin"; then
    if [ "$name" != pyftpdlib ] || grep -q "RETR .*pkg.bin completed=1 bytes=$((size - part)) " "$log"; then
      pass "$name: resume with REST from byte $part sends only the rest"
    else fail "$name: the server did not log a transfer of $((size - part)) bytes: $(grep RETR "$log" | tail -1)"; fi
  else fail "$name: resume: $(tail -2 "$err")"; fi

  if "$fetch" "ftp://$user:wrong@127.0.0.1:$port/fw/pkg.bin" "$d/$name.bad" 2>"$err"; then
    fail "$name: a wrong password was accepted"
  elif grep -q 'login refused: check user name and password' "$err" && ! grep -q wrong "$err"; then
    pass "$name: a wrong password is refused (530), without echoing it"
  else fail "$name: wrong password: $(tail -2 "$err")"; fi
}

# --- pyftpdlib ---------------------------------------------------------------
port=$(free_port)
read -r lo hi < <(passive_range)
python3 -m pyftpdlib -i 127.0.0.1 -p "$port" -u "$user" -P "$pass" -d "$d/www" -r "$lo-$hi" \
  2>"$d/pyftpdlib.log" &
pids+=($!)
if wait_port "$port"; then
  check_server pyftpdlib "$port" "$d/pyftpdlib.log"
  check_nl668 pyftpdlib "$port"
else fail "pyftpdlib did not start: $(tail -3 "$d/pyftpdlib.log")"; fi

# --- pure-ftpd, extracted from the Debian packages --------------------------
if [ "$(id -u)" -ne 0 ]; then
  skip "pure-ftpd: needs root here (it switches to the virtual user's uid and chroots)"
elif ! (cd "$d" && apt-get download -q pure-ftpd pure-ftpd-common >"$d/apt.log" 2>&1); then
  fail "pure-ftpd: apt-get download failed: $(tail -2 "$d/apt.log")"
else
  for deb in "$d"/pure-ftpd*.deb; do dpkg-deb -x "$deb" "$d/pure"; done
  # SHA-512 crypt: pure-pw's default argon2 makes every login take seconds.
  printf '%s:%s:65534:65534::%s/www/./::::::::::::\n' "$user" "$(openssl passwd -6 "$pass")" "$d" \
    >"$d/pureftpd.passwd"
  "$d/pure/usr/bin/pure-pw" mkdb "$d/pureftpd.pdb" -f "$d/pureftpd.passwd"
  port=$(free_port)
  read -r lo hi < <(passive_range)
  "$d/pure/usr/sbin/pure-ftpd" -S "127.0.0.1,$port" -l "puredb:$d/pureftpd.pdb" -E -A -H \
    -p "$lo:$hi" >"$d/pure-ftpd.log" 2>&1 &
  pids+=($!)
  if wait_port "$port"; then
    check_server pure-ftpd "$port" "$d/pure-ftpd.log"
    check_nl668 pure-ftpd "$port"
  else fail "pure-ftpd did not start: $(tail -3 "$d/pure-ftpd.log")"; fi
fi

# --- optional: 256 MiB from pyftpdlib, curl vs fetch --------------------------
if [ -n "${ATFOTA_FTP_BENCH:-}" ]; then
  port=$(free_port)
  read -r lo hi < <(passive_range)
  mkdir -p "$d/big"
  head -c $((256 << 20)) /dev/urandom >"$d/big/256m.bin"
  python3 -m pyftpdlib -i 127.0.0.1 -p "$port" -u "$user" -P "$pass" -d "$d/big" -r "$lo-$hi" \
    2>/dev/null &
  pids+=($!)
  wait_port "$port"
  url="ftp://$user:$pass_url@127.0.0.1:$port/256m.bin"
  t0=$(date +%s%N); curl -s -o "$d/curl.bin" "$url"; t1=$(date +%s%N)
  "$fetch" "$url" "$d/fetch.bin" 2>"$d/bench.err"; t2=$(date +%s%N)
  cmp -s "$d/fetch.bin" "$d/big/256m.bin" || fail "bench: fetch's 256 MiB differ"
  echo "BENCH 256 MiB from pyftpdlib to a file: curl $(((t1 - t0) / 1000000)) ms," \
    "fetch $(((t2 - t1) / 1000000)) ms"
  rm -f "$d/curl.bin" "$d/fetch.bin" "$d/big/256m.bin"
fi

echo
if [ "$fails" -gt 0 ]; then echo "ftp interop: $fails check(s) failed"; exit 1; fi
echo "ftp interop: all checks passed"
