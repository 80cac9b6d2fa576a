#!/usr/bin/env bash
# Regenerates the delta patch fixtures of atfota-delta: testdata/delta/<pair>/.
#
# For every pair (from.bin, to.bin) and compression (none, lzma, heatshrink) it writes
#   detools-<c>.patch  made by the real tool: detools create_patch -t sequential -c <c>
#   ours-<c>.patch     made by atfota-delta (its `delta` example), then checked with
#                      detools apply_patch, which must give back to.bin byte for byte.
#
# Needs python3, gcc, cargo, and detools 0.53.0 (installed with pip when missing:
# pip install detools==0.53.0, which builds a C extension). Last run with detools 0.53.0,
# Python 3.11, gcc 12.2 (Debian 12).
#
# Inputs are deterministic: random bytes are SHA-256 in counter mode over fixed seeds (no
# random generator's implementation involved), edits are drawn the same way. The ELF pair
# depends on the compiler: another gcc gives other binaries (that is why they are committed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
command -v gcc >/dev/null || { echo "gcc not found" >&2; exit 1; }
if ! command -v detools >/dev/null || [[ "$(detools --version)" != "0.53.0" ]]; then
    python3 -m pip install --quiet detools==0.53.0
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# --- Pair "elf": two builds of a tiny C program, one line changed. ---
mkdir -p "$here/elf"
cat > "$scratch/prog.c" <<'C'
#include <stdio.h>
#include <string.h>

static unsigned checksum(const char *s)
{
    unsigned sum = 0;
    while (*s) {
        sum = sum * 31u + (unsigned char)*s++;
    }
    return sum;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "world";
    printf("hello, %s (%u)\n", name, checksum(name));
    printf("firmware version %s\n", "1.0.0");
    return (int)strlen(name) % 2;
}
C
sed 's/"1.0.0"/"1.0.1-with-a-longer-tag"/' "$scratch/prog.c" > "$scratch/prog2.c"
gcc -O2 -o "$here/elf/from.bin" "$scratch/prog.c"
gcc -O2 -o "$here/elf/to.bin" "$scratch/prog2.c"

# --- Pairs made with Python: random with edits, and the edge cases. ---
python3 - "$here" <<'PY'
import hashlib, os, sys

here = sys.argv[1]

def stream(seed, n):
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:n])

def numbers(seed):
    counter = 0
    while True:
        block = hashlib.sha256(seed + counter.to_bytes(8, "little")).digest()
        for i in range(0, 32, 4):
            yield int.from_bytes(block[i:i + 4], "little")
        counter += 1

def write(pair, name, data):
    os.makedirs(os.path.join(here, pair), exist_ok=True)
    with open(os.path.join(here, pair, name), "wb") as f:
        f.write(data)

# 1 MiB of random bytes, and a copy with 21 edits spread over it: insertions, deletions and
# overwrites of 1..256 bytes, applied from the end so earlier positions stay put.
old = stream(b"atfota-delta-random-from", 1 << 20)
rng = numbers(b"atfota-delta-random-edits")
edits = sorted(((next(rng) % len(old), i % 3, 1 + next(rng) % 256) for i in range(21)), reverse=True)
new = bytearray(old)
for n, (pos, kind, size) in enumerate(edits):
    fresh = stream(b"atfota-delta-random-insert-%d" % n, size)
    if kind == 0:
        new[pos:pos] = fresh
    elif kind == 1:
        del new[pos:pos + size]
    else:
        new[pos:pos + size] = fresh
write("random", "from.bin", old)
write("random", "to.bin", bytes(new))

write("empty-from", "from.bin", b"")
write("empty-from", "to.bin", b"hello, world\n")

text = b"".join(b"line %04d of a file that does not change\n" % i for i in range(64))
write("identical", "from.bin", text)
write("identical", "to.bin", text)

write("empty-to", "from.bin", text)
write("empty-to", "to.bin", b"")
PY

# --- Patches: detools' and ours, and detools applying ours. ---
(cd "$root" && cargo build --quiet --release -p atfota-delta --example delta)
delta="$root/target/release/examples/delta"

# --- The elf pair with other heatshrink parameters, and patches we must refuse. ---
elf="$here/elf"
for wl in 4,3 12,4 15,14; do
    w="${wl%,*}" l="${wl#*,}"
    detools create_patch -t sequential -c heatshrink --heatshrink-window-sz2 "$w" \
        --heatshrink-lookahead-sz2 "$l" "$elf/from.bin" "$elf/to.bin" "$elf/detools-heatshrink-w$w-l$l.patch" >/dev/null
done
detools create_patch -a hdiffpatch -t hdiffpatch -c lzma "$elf/from.bin" "$elf/to.bin" "$elf/refused-hdiffpatch.patch" >/dev/null
detools create_patch_in_place --memory-size 65536 --segment-size 4096 -c none \
    "$elf/from.bin" "$elf/to.bin" "$elf/refused-in-place.patch" >/dev/null
detools create_patch -t sequential -c bz2 "$elf/from.bin" "$elf/to.bin" "$elf/refused-bz2.patch" >/dev/null
detools create_patch -t sequential -c none --data-format arm-cortex-m4 \
    "$elf/from.bin" "$elf/to.bin" "$elf/refused-data-format.patch" >/dev/null

printf '%-12s %-11s %10s %10s %10s\n' pair compression to-size detools ours
for pair in elf random empty-from identical empty-to; do
    dir="$here/$pair"
    for c in none lzma heatshrink; do
        detools create_patch -t sequential -c "$c" "$dir/from.bin" "$dir/to.bin" "$dir/detools-$c.patch" >/dev/null
        "$delta" create "$dir/from.bin" "$dir/to.bin" "$dir/ours-$c.patch" --compression "$c" >/dev/null
        detools apply_patch "$dir/from.bin" "$dir/ours-$c.patch" "$scratch/out" >/dev/null
        cmp "$scratch/out" "$dir/to.bin" || { echo "detools apply_patch: $pair/ours-$c.patch gives the wrong bytes" >&2; exit 1; }
        "$delta" apply "$dir/from.bin" "$dir/detools-$c.patch" "$scratch/out" >/dev/null
        cmp "$scratch/out" "$dir/to.bin" || { echo "delta apply: $pair/detools-$c.patch gives the wrong bytes" >&2; exit 1; }
        printf '%-12s %-11s %10d %10d %10d\n' "$pair" "$c" "$(stat -c %s "$dir/to.bin")" \
            "$(stat -c %s "$dir/detools-$c.patch")" "$(stat -c %s "$dir/ours-$c.patch")"
    done
done
