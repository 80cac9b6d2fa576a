#!/usr/bin/env bash
# Interop suite: the release binary against real servers and tools from the
# distribution and PyPI (see install.sh). Each check prints PASS or FAIL;
# the script exits non-zero if any failed. Servers bind 127.0.0.1 only and
# are stopped on exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh" interop

# --- fixtures: images signed by us and by imgtool -------------------------
mkdir -p "$d/www" "$d/logs" "$d/tmp"
python3 -c "import os,random; r=random.Random(7); open('$d/payload.bin','wb').write(bytes(r.getrandbits(8) for _ in range(700_000)))"
key=$root/testdata/keys/trusted-ed25519.pem
pub=$root/testdata/keys/trusted-ed25519.pub.pem
# 4.0.0: newer than the imgtool image (3.1.4) the same device installs first (no downgrade).
"$bin" image sign "$d/payload.bin" "$d/www/ours.bin" --version 4.0.0 --key "$key" >/dev/null
imgtool sign --key "$key" --header-size 0x200 --pad-header --align 4 --version 3.1.4 \
  --slot-size 0x100000 "$d/payload.bin" "$d/www/imgtool.bin" >/dev/null
"$bin" image sign "$d/payload.bin" "$d/www/dev.bin" --version 2.0.0 2>/dev/null >/dev/null

if imgtool verify -k "$key" "$d/www/ours.bin" >"$d/verify.txt" 2>&1; then
  pass "imgtool verify accepts an image signed by atfota"
else fail "imgtool verify rejects our image: $(cat "$d/verify.txt")"; fi
if "$bin" image info "$d/www/imgtool.bin" --key "$pub" >"$d/info.txt" 2>&1 && grep -q 'signature     valid' "$d/info.txt"; then
  pass "atfota image info accepts an image freshly signed by imgtool"
else fail "atfota rejects imgtool's image: $(cat "$d/info.txt")"; fi

# --- nginx ---------------------------------------------------------------
port=$(free_port)
start_nginx "  access_log logs/access.log;
  server { listen 127.0.0.1:$port; root www; location /slow/ { alias www/; limit_rate 200k; } }"
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$port/ours.bin" && break; sleep 0.1; done
curl -fs -o /dev/null "http://127.0.0.1:$port/ours.bin" || { fail "nginx does not serve the images"; cat "$d/nginx.err"; exit 1; }
base="http://127.0.0.1:$port"

# --- a modem on a PTY, driven by ppp's chat (a real AT client) --------------
start_modem() { # $1 data dir, $2 link, rest: extra args
  local data=$1 link=$2; shift 2
  "$bin" modem --data "$data" --listen "pty:$link" "$@" 2>>"$d/modem.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -e "$link" ] && break; sleep 0.05; done
}
at_chat() { # $1 link, rest: chat script; timeout per expect 40 s
  local link=$1; shift
  chat -s -t 40 ABORT ERROR ABORT '#XFOTA: 1,1,' "$@" <"$link" >"$link" 2>>"$d/chat.log"
}

start_modem "$d/dev1" "$d/modem1" --trust "$pub"
if at_chat "$d/modem1" '' AT OK "AT#XFOTA=1,\"$base/imgtool.bin\"" OK '\c' '#XFOTA: 4,0' \
     'AT#XRESET' OK '\c' Ready '\c' '#XFOTA: 5,0' 'AT#XSLMVER' '"3.1.4"'; then
  pass "chat over a PTY: nginx download of an imgtool image, 4,0, reset, 5,0, version 3.1.4"
else fail "chat update over a PTY (see chat.log / modem.log)"; fi

# Cancel on a rate-limited nginx location, then resume with Range.
if at_chat "$d/modem1" '' "AT#XFOTA=1,\"$base/slow/ours.bin\"" OK '\c' '#XFOTA: 1,0,3' 'AT#XFOTA=0' \
     '#XFOTA: 1,2,0' '\c' OK "AT#XFOTA=1,\"$base/slow/ours.bin\"" OK '\c' '#XFOTA: 4,0'; then
  if grep -q '"GET /slow/ours.bin HTTP/1.1" 206' "$d/logs/access.log"; then
    pass "cancel and resume against nginx: the resume was a 206 range request"
  else fail "resume did not use a range request: $(tail -3 "$d/logs/access.log")"; fi
else fail "cancel/resume over a PTY (see chat.log / modem.log)"; fi

# picocom, the interactive terminal users will reach for.
out=$( (sleep 0.5; printf 'AT+CGMR\r'; sleep 0.7) | picocom -q -b 115200 -x 1500 "$d/modem1" 2>/dev/null || true)
if printf '%s' "$out" | tr -d '\r' | grep -q '^mfw_nrf9160_1.3.5$'; then
  pass "picocom talks to the PTY modem"
else fail "picocom got: $out"; fi

# A signature nobody trusts is refused on the wire.
start_modem "$d/dev2" "$d/modem2"
if chat -s -t 40 ABORT ERROR '' "AT#XFOTA=1,\"$base/imgtool.bin\"" OK '\c' '#XFOTA: 1,1,2' \
     <"$d/modem2" >"$d/modem2" 2>>"$d/chat.log"; then
  pass "an image from an untrusted key is refused with #XFOTA: 1,1,2"
else fail "untrusted image not refused"; fi

# The Fibocom profile over HTTP from nginx: AT+GTOTA=0, automatic reboot and install.
"$bin" modem --profile nl668 --data "$d/dev3" --listen "pty:$d/modem3" 2>>"$d/modem.log" &
pids+=($!)
for _ in $(seq 100); do [ -e "$d/modem3" ] && break; sleep 0.05; done
if chat -s -t 40 ABORT 'GTOTA DOWNLOAD FAILED' ABORT 'GTOTA UPGRADE FAILED' ABORT ERROR '' ATE0 OK \
     "AT+GTOTA=0,\"$base/dev.bin\"" OK '\c' 'GTOTA DOWNLOAD COMPLETE' '\c' RDY '\c' \
     'GTOTA UPGRADE SUCCESS' 'AT+CGMR' 'NL668-EAU_V2.0.0' <"$d/modem3" >"$d/modem3" 2>>"$d/chat.log"; then
  pass "NL668 over HTTP from nginx: download, automatic reboot, +CGMR shows 2.0.0"
else fail "NL668 update over HTTP (see chat.log / modem.log)"; fi

echo
if "$root/tests/interop/ftp.sh"; then pass "FTP suite (pyftpdlib, pure-ftpd)"; else fail "FTP suite"; fi

echo
if "$root/tests/interop/tls.sh"; then pass "TLS suite (nginx TLS and mTLS, AT%CMNG, imgtool key types)"; else fail "TLS suite"; fi

echo
if "$root/tests/interop/delta.sh"; then pass "modem delta suite (detools both ways, two updates from nginx)"; else fail "modem delta suite"; fi

echo
if [ "$fails" -gt 0 ]; then
  echo "interop: $fails check(s) failed"; echo "--- modem.log"; tail -40 "$d/modem.log"; echo "--- chat.log"; tail -20 "$d/chat.log"
  exit 1
fi
echo "interop: all checks passed"
