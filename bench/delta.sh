#!/usr/bin/env bash
# Delta benchmark (issue 8, "Performance"): atfota's modem delta patches side by side with
# detools 0.53.0, in one run, on three pairs:
#   elf     a small firmware ELF built here with gcc -O2 -static: a generated program of ~150
#           functions and tables, then a release with a few functions changed and one added
#           (addresses shift, as in a real firmware update);
#   libcurl two releases of a real shared library from the Debian archive, downloaded with
#           `apt-get download`: the oldest and newest libcurl4 the configured archive has (Debian
#           12: 7.88.1-10+deb12u5 from bookworm-security and the bookworm point release); when
#           the archive has only one version, libcurl3-gnutls -> libcurl4 of that version (two
#           related builds of one source, said so in the report);
#   random  1 MiB of random bytes with 21 scattered edits (testdata/delta/random).
# For each: patch size (ours vs `detools create_patch -c lzma` and `-c heatshrink`), create time,
# apply time and apply peak RSS; details in bench/delta.py, which does the measuring.
#
# Usage: bench/delta.sh [--out FILE] [--keep DIR]
#   --out FILE   also write the markdown report to FILE
#   --keep DIR   build the pairs in DIR and keep them (default: a scratch directory, deleted)
# Environment: ATFOTA_BIN (default target/release/atfota, built if missing).
# Installs what it lacks (gcc, GNU time, detools via pip, as CI would).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${ATFOTA_BIN:-$root/target/release/atfota}
out_file="" keep=""
while (($#)); do
    case "$1" in
        --out) out_file="${2:?--out needs a value}"; shift 2 ;;
        --keep) keep="${2:?--keep needs a value}"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
for p in gcc time; do
    dpkg -s "$p" >/dev/null 2>&1 || { $sudo_ apt-get update -qq; $sudo_ apt-get install -y -qq "$p" >/dev/null; }
done
python3 -c 'import detools' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check detools==0.53.0

if [ -n "$keep" ]; then d=$keep; mkdir -p "$d"; else
    d=$(mktemp -d /tmp/atfota-bench-delta.XXXXXX); trap 'rm -rf "$d"' EXIT
fi

# --- elf: a generated firmware-like program, two releases ------------------------------
mkdir -p "$d/elf"
gen_c() { # $1 release (1 or 2)
    python3 - "$1" <<'PY'
import sys
rel = int(sys.argv[1])
print('#include <stdio.h>\n#include <string.h>\n#include <stdint.h>')
n = 150 + (1 if rel == 2 else 0)
for i in range(n):
    # Release 2 changes the constants of every 25th function (a bug-fix release).
    k = i * 2654435761 % 4093 + (7 if rel == 2 and i % 25 == 3 else 0)
    print(f'static const uint16_t table{i}[64] = {{{",".join(str((k * j + i) % 65521) for j in range(64))}}};')
    print(f'''__attribute__((noinline)) uint32_t handler{i}(uint32_t x, const char *s) {{
    uint32_t acc = {k}u;
    for (int j = 0; j < 64; j++) acc = acc * 31u + table{i}[(x + j) & 63] + (uint32_t)j;
    if (s && strlen(s) > {i % 13}) acc ^= (uint32_t)s[{i % 13}] << {i % 24};
    return acc ^ (x >> {i % 7 + 1});
}}''')
print('typedef uint32_t (*handler_t)(uint32_t, const char *);')
print(f'static handler_t handlers[] = {{{",".join(f"handler{i}" for i in range(n))}}};')
print(f'''int main(int argc, char **argv) {{
    uint32_t sum = 0;
    for (unsigned i = 0; i < sizeof handlers / sizeof *handlers; i++) sum += handlers[i](i, argc > 1 ? argv[1] : "boot");
    printf("firmware %s %u\\n", "{'1.0.0' if rel == 1 else '1.0.1'}", sum);
    return 0;
}}''')
PY
}
gen_c 1 >"$d/elf/v1.c"
gen_c 2 >"$d/elf/v2.c"
gcc -O2 -static -o "$d/elf/from.bin" "$d/elf/v1.c"
gcc -O2 -static -o "$d/elf/to.bin" "$d/elf/v2.c"
elf_note="gcc $(gcc -dumpfullversion) -O2 -static, 150 functions + tables (glibc linked in) -> 6 changed, 1 added"

# --- libcurl: two releases from the Debian archive -------------------------------------
mkdir -p "$d/libcurl/deb"
mapfile -t versions < <(apt-cache madison libcurl4 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -uV)
if [ ${#versions[@]} -eq 0 ]; then
    $sudo_ apt-get update -qq
    mapfile -t versions < <(apt-cache madison libcurl4 | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -uV)
fi
(
    cd "$d/libcurl/deb"
    if [ ${#versions[@]} -ge 2 ]; then
        apt-get download -qq "libcurl4=${versions[0]}" "libcurl4=${versions[-1]}"
    else
        apt-get download -qq "libcurl3-gnutls=${versions[0]}" "libcurl4=${versions[0]}"
    fi
)
extract() { # $1 deb → the shared library inside, printed
    local x=$d/libcurl/x-$(basename "$1" .deb)
    dpkg-deb -x "$1" "$x"
    find "$x" -name 'libcurl*.so.4.*' -type f | head -1
}
if [ ${#versions[@]} -ge 2 ]; then
    cp "$(extract "$d"/libcurl/deb/libcurl4_"${versions[0]//:/%3a}"_*.deb)" "$d/libcurl/from.bin"
    cp "$(extract "$d"/libcurl/deb/libcurl4_"${versions[-1]//:/%3a}"_*.deb)" "$d/libcurl/to.bin"
    curl_note="libcurl4 ${versions[0]} -> ${versions[-1]} (Debian archive, libcurl.so.4.8.0)"
else
    cp "$(extract "$d"/libcurl/deb/libcurl3-gnutls_*.deb)" "$d/libcurl/from.bin"
    cp "$(extract "$d"/libcurl/deb/libcurl4_*.deb)" "$d/libcurl/to.bin"
    curl_note="only one libcurl4 version in the archive: libcurl3-gnutls -> libcurl4 ${versions[0]} (two related builds of one source)"
fi

# --- random: the committed fixture -------------------------------------------------------
mkdir -p "$d/random"
cp "$root/testdata/delta/random/from.bin" "$root/testdata/delta/random/to.bin" "$d/random/"
random_note="1 MiB SHA-256 counter-mode bytes, 21 insertions/deletions/overwrites of 1-256 bytes"

python3 "$root/bench/delta.py" --bin "$bin" --work "$d" \
    --pair "elf=$elf_note" --pair "libcurl=$curl_note" --pair "random=$random_note" \
    ${out_file:+--out "$out_file"}
