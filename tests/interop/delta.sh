#!/usr/bin/env bash
# Interop, modem delta updates: atfota against the real `detools` (PyPI) and nginx.
#
# 1. Patches both ways, for compressions none, lzma and heatshrink, on two pairs (a gcc ELF and
#    1 MiB of random bytes with edits, from testdata/delta): `detools apply_patch` turns the
#    patch inside a package made by `atfota delta create` (written out by --save-patch, and the
#    same bytes as the package's patch field, docs/FORMATS.md) into the target byte for byte;
#    `atfota delta apply` does the same with a patch made by `detools create_patch`, wrapped by
#    `atfota delta pack`. A 16 MiB firmware's detools lzma patch (8 MiB dictionary) applies in
#    bounded memory; a patch declaring a larger dictionary is refused clearly.
# 2. Two modem delta updates of an emulated nRF9160 (its built-in factory firmware, exported
#    with `atfota modem-fw export`) over a PTY driven by atclient.py, from nginx on loopback:
#    first a detools-made patch (clean scratch area: no erase), then an atfota-made one (the
#    scratch area holds the first package: #XFOTA: 2,0 and 3,0), each with progress, 4,0,
#    AT#XRESET, Ready, 5,0 and the new AT+CGMR; the firmware exported afterwards is the target.
#
# Prints PASS/FAIL per check; exits non-zero if any failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh" delta
# Runs atclient.py; its transcript (this call's only) is left in $d/at.log.
at() { python3 "$root/tests/interop/atclient.py" "$@" >"$d/at.log" 2>&1; }
key=$root/testdata/keys/trusted-ed25519.pem
pub=$root/testdata/keys/trusted-ed25519.pub.pem
command -v detools >/dev/null || { fail "detools is not installed (tests/interop/install.sh)"; exit 1; }

# The patch field of a package: header length 0x140 (offset 2), patch length at offset 0x0c.
patch_of() { # $1 package, $2 output
  python3 - "$1" "$2" <<'PY'
import struct, sys
pkg = open(sys.argv[1], "rb").read()
header_len, = struct.unpack_from("<H", pkg, 2)
patch_len, = struct.unpack_from("<I", pkg, 0x0c)
open(sys.argv[2], "wb").write(pkg[header_len:header_len + patch_len])
PY
}

# --- 1. patches both ways --------------------------------------------------------------
for pair in elf random; do
  from=$root/testdata/delta/$pair/from.bin to=$root/testdata/delta/$pair/to.bin
  for c in none lzma heatshrink; do
    w=$d/$pair-$c
    if "$bin" delta create --from "$from" --to "$to" --to-version v2 --key "$key" --compression "$c" \
         -o "$w-ours.pkg" --save-patch "$w-ours.patch" >"$w.log" 2>&1 \
       && patch_of "$w-ours.pkg" "$w-field.patch" && cmp -s "$w-field.patch" "$w-ours.patch" \
       && detools apply_patch "$from" "$w-ours.patch" "$w-detools.out" >>"$w.log" 2>&1 \
       && cmp -s "$w-detools.out" "$to"; then
      pass "detools apply_patch applies atfota's $c patch ($pair, $(stat -c %s "$w-ours.patch") bytes) byte-exact"
    else fail "atfota delta create -c $c ($pair) / detools apply_patch: $(tail -3 "$w.log")"; fi
    if detools create_patch -t sequential -c "$c" "$from" "$to" "$w-detools.patch" >"$w.log" 2>&1 \
       && "$bin" delta pack --from "$from" --patch "$w-detools.patch" --to-version v2 --key "$key" \
            -o "$w-detools.pkg" >>"$w.log" 2>&1 \
       && "$bin" delta apply --from "$from" "$w-detools.pkg" -o "$w-ours.out" >>"$w.log" 2>&1 \
       && cmp -s "$w-ours.out" "$to"; then
      pass "atfota delta apply applies detools' $c patch ($pair, $(stat -c %s "$w-detools.patch") bytes) byte-exact"
    else fail "detools create_patch -c $c ($pair) / atfota delta pack+apply: $(tail -3 "$w.log")"; fi
  done
done

# A 16 MiB firmware: detools' LZMA patch declares its 8 MiB dictionary (preset 6); it applies,
# and the apply's memory stays far below the firmware size.
python3 - "$d" <<'PY'
import random, sys
r = random.Random(16)
old = bytearray(r.randbytes(16 << 20))
new = bytearray(old)
for _ in range(30):
    p = r.randrange(len(new))
    new[p:p + 100] = r.randbytes(120)
open(sys.argv[1] + "/big-from.bin", "wb").write(old)
open(sys.argv[1] + "/big-to.bin", "wb").write(new)
PY
if detools create_patch -t sequential -c lzma "$d/big-from.bin" "$d/big-to.bin" "$d/big.patch" >"$d/big.log" 2>&1 \
   && "$bin" delta pack --from "$d/big-from.bin" --patch "$d/big.patch" --to-version v2 --key "$key" \
        -o "$d/big.pkg" >>"$d/big.log" 2>&1 \
   && /usr/bin/time -f %M -o "$d/big.rss" "$bin" delta apply --from "$d/big-from.bin" "$d/big.pkg" \
        -o "$d/big.out" >>"$d/big.log" 2>&1 \
   && cmp -s "$d/big.out" "$d/big-to.bin" && [ "$(tail -1 "$d/big.rss")" -lt 20000 ]; then
  pass "a 16 MiB firmware: detools' lzma patch (8 MiB dictionary) applies byte-exact, peak RSS $(tail -1 "$d/big.rss") KiB"
else fail "16 MiB firmware with detools' lzma patch: $(tail -3 "$d/big.log") (RSS $(tail -1 "$d/big.rss" 2>/dev/null) KiB)"; fi
rm -f "$d"/big-*.bin "$d/big.out"
# A dictionary above 8 MiB (detools' -c lzma never makes one; Python's preset 9 does): refused.
python3 - "$root/testdata/delta/elf/detools-none.patch" "$d/dict64.patch" <<'PY'
import lzma, sys
b = open(sys.argv[1], "rb").read()
i = 1
while b[i] & 0x80:
    i += 1
# Same header with compression 1 (lzma), the operation stream recompressed with a 64 MiB dictionary.
open(sys.argv[2], "wb").write(bytes([0x01]) + b[1:i + 1] + lzma.compress(b[i + 1:], format=lzma.FORMAT_ALONE, preset=9))
PY
if ! "$bin" delta pack --from "$root/testdata/delta/elf/from.bin" --patch "$d/dict64.patch" --to-version v2 \
       --key "$key" -o "$d/dict64.pkg" >"$d/dict64.log" 2>&1 \
   && grep -q "67108864-byte dictionary, more than the limit of 8388608" "$d/dict64.log" \
   && detools apply_patch "$root/testdata/delta/elf/from.bin" "$d/dict64.patch" "$d/dict64.out" >/dev/null 2>&1; then
  pass "an lzma patch declaring a 64 MiB dictionary (detools applies it) is refused with the sizes named"
else fail "64 MiB dictionary: $(cat "$d/dict64.log")"; fi

# --- 2. modem delta updates over nginx ---------------------------------------------------
start_modem() { # $1 data dir, $2 link, rest: extra args
  local data=$1 link=$2; shift 2
  rm -f "$link"
  "$bin" modem --data "$data" --listen "pty:$link" --recv-timeout 10 "$@" 2>>"$d/modem.log" &
  modem_pid=$!
  pids+=("$modem_pid")
  for _ in $(seq 100); do [ -e "$link" ] && break; sleep 0.05; done
}
stop_modem() { kill "$modem_pid" 2>/dev/null || true; wait "$modem_pid" 2>/dev/null || true; }

# A new device with the built-in factory modem firmware; export it, as a user would.
dev=$d/dev
start_modem "$dev" "$d/modem" --trust "$pub" --modem-erase-ms 300
at "$d/modem" "send:AT+CGMR" || true
from_version=$(sed -n 's/^<- \(mfw_.*\)$/\1/p' "$d/at.log" | head -1)
stop_modem
if "$bin" modem-fw export --data "$dev" -o "$d/v1.bin" >"$d/export.log" 2>&1 && [ -n "$from_version" ]; then
  pass "modem-fw export: the factory firmware ($(stat -c %s "$d/v1.bin") bytes, $from_version)"
else fail "modem-fw export of a new device: $(cat "$d/export.log") (AT+CGMR: $from_version)"; fi

# Two new releases: v2 a few patched spots and 24 KB of new code, v3 code copied in, a table
# rewritten and a function removed.
python3 - "$d" <<'PY'
import hashlib, sys
d = sys.argv[1]
def stream(seed, n):
    out = b"".join(hashlib.sha256(seed + i.to_bytes(8, "little")).digest() for i in range(n // 32 + 1))
    return out[:n]
v1 = open(d + "/v1.bin", "rb").read()
v2 = bytearray(v1)
for i, pos in enumerate(range(40_000, len(v2) - 1000, len(v2) // 9)):
    v2[pos:pos + 64] = stream(b"v2-%d" % i, 64)
v2[700_000:700_000] = stream(b"v2-new-code", 24_000)
v3 = bytearray(v2)
v3[300_000:300_000] = v2[100_000:112_000]            # code copied from elsewhere, shifted
v3[900_000:932_000] = stream(b"v3-table", 32_000)    # a rewritten table
del v3[1_500_000:1_504_096]                          # a removed function
open(d + "/v2.bin", "wb").write(v2)
open(d + "/v3.bin", "wb").write(v3)
PY
mkdir -p "$d/www" "$d/logs" "$d/tmp"
v2_version=mfw_nrf9160_9.0.2 v3_version=mfw_nrf9160_9.0.3
if detools create_patch -t sequential -c lzma "$d/v1.bin" "$d/v2.bin" "$d/d12.patch" >"$d/make.log" 2>&1 \
   && "$bin" delta pack --from "$d/v1.bin" --patch "$d/d12.patch" --from-version "$from_version" \
        --to-version "$v2_version" --key "$key" -o "$d/www/d12.bin" >>"$d/make.log" 2>&1 \
   && "$bin" delta create --from "$d/v2.bin" --to "$d/v3.bin" --from-version "$v2_version" \
        --to-version "$v3_version" --key "$key" -o "$d/www/d23.bin" >>"$d/make.log" 2>&1 \
   && "$bin" delta info "$d/www/d23.bin" --key "$pub" >>"$d/make.log" 2>&1; then
  pass "packages: detools' patch wrapped ($(stat -c %s "$d/www/d12.bin") bytes), ours created ($(stat -c %s "$d/www/d23.bin") bytes)"
else fail "making the packages: $(tail -3 "$d/make.log")"; fi

port=$(free_port)
start_nginx "  access_log logs/access.log;
  server { listen 127.0.0.1:$port; root www; location /slow/ { alias www/; limit_rate 10k; } }"
base="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -fs -o /dev/null "$base/d12.bin" && break; sleep 0.1; done
curl -fs -o /dev/null "$base/d12.bin" || { fail "nginx does not serve the packages: $(cat "$d/nginx.err")"; exit 1; }

# $1 transcript: progress lines seen, and the version AT+CGMR answered last.
progress_count() { grep -c '^<- #XFOTA: 1,0,[0-9]*$' "$1" || true; }
cgmr() { sed -n 's/^<- \(mfw_.*\)$/\1/p' "$1" | tail -1; }

start_modem "$dev" "$d/modem" --trust "$pub" --modem-erase-ms 300
# Update 1, detools' patch, slowly (10 KB/s; nginx sends the first second's worth at once), so
# that progress has several steps.
if at "$d/modem" "send:AT#XFOTA=2,\"$base/slow/d12.bin\"" "expect:#XFOTA: 4,0" "send:AT#XRESET" \
     "expect:Ready" "expect:#XFOTA: 5,0" "send:AT+CGMR"; then
  n=$(progress_count "$d/at.log") v=$(cgmr "$d/at.log")
  if [ "$n" -ge 2 ] && [ "$v" = "$v2_version" ] && ! grep -q '#XFOTA: 2,0' "$d/at.log"; then
    pass "modem delta update with detools' patch from nginx: $n progress steps, 4,0, reset, Ready, 5,0, AT+CGMR $v"
  else fail "update 1: progress steps $n, AT+CGMR '$v', erase: $(grep -c '#XFOTA: 2,0' "$d/at.log" || true) (at.log: $(tail -5 "$d/at.log"))"; fi
else fail "update 1 (detools' patch): $(tail -8 "$d/at.log")"; fi
cp "$d/at.log" "$d/at-1.log"

# Update 2, our patch: the scratch area still holds the first package, so it is erased first.
# The erase starts at once: #XFOTA: 2,0 may come before the command's OK.
if at "$d/modem" "write:AT#XFOTA=2,\"$base/d23.bin\"" "expect:#XFOTA: 2,0" "expect:#XFOTA: 3,0" \
     "expect:#XFOTA: 4,0" "send:AT#XRESET" "expect:Ready" "expect:#XFOTA: 5,0" "send:AT+CGMR"; then
  n=$(progress_count "$d/at.log") v=$(cgmr "$d/at.log")
  ok=$(sed -n '/^-> AT#XFOTA=2/,/^<- #XFOTA: 4,0$/p' "$d/at.log" | grep -c '^<- OK$' || true)
  if [ "$ok" -eq 1 ] && [ "$n" -ge 1 ] && [ "$v" = "$v3_version" ]; then
    pass "modem delta update with atfota's patch: 2,0, 3,0 (dirty scratch erased), $n progress steps, 4,0, reset, Ready, 5,0, AT+CGMR $v"
  else fail "update 2: OK $ok time(s), progress steps $n, AT+CGMR '$v' (at.log: $(tail -5 "$d/at.log"))"; fi
else fail "update 2 (atfota's patch): $(tail -8 "$d/at.log")"; fi
stop_modem

if "$bin" modem-fw export --data "$dev" -o "$d/exported.bin" >"$d/export.log" 2>&1 \
   && cmp -s "$d/exported.bin" "$d/v3.bin"; then
  pass "modem-fw export after both updates is byte-equal to the target ($(stat -c %s "$d/v3.bin") bytes)"
else fail "exported firmware differs from the target: $(cat "$d/export.log")"; fi
if grep -q '"GET /slow/d12.bin HTTP/1.1" 200' "$d/logs/access.log" && grep -q '"GET /d23.bin HTTP/1.1" 200' "$d/logs/access.log"; then
  pass "nginx served both packages (access log)"
else fail "nginx access log: $(cat "$d/logs/access.log")"; fi

echo
[ "$fails" -eq 0 ] || { echo "delta: $fails check(s) failed"; tail -30 "$d/modem.log"; exit 1; }
echo "delta: all checks passed"
