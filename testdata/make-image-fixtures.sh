#!/usr/bin/env bash
# Regenerates the MCUboot image fixtures of atfota-image: testdata/keys/ and testdata/images/.
#
# Needs `imgtool` (mcuboot's signing tool, 2.5.0 checked) and `python3` on PATH; it installs
# nothing. Get imgtool with:  pip install imgtool==2.5.0
#
# Idempotent: keys are generated only when missing (delete testdata/keys/*.pem to rotate them),
# images are rebuilt every run. Ed25519 signatures are deterministic, so re-running gives
# byte-identical Ed25519 images. ECDSA signatures are randomized: regenerating changes the bytes
# of signed-ecdsa-p256.bin (it still verifies; tests compare it structurally, not byte for byte).
#
# The development key crates/image/keys/dev-ed25519.pem is read, never regenerated here: it is
# committed once and built into the crate.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
keys="$root/testdata/keys"
images="$root/testdata/images"
dev_key="$root/crates/image/keys/dev-ed25519.pem"

command -v imgtool >/dev/null || { echo "imgtool not found: pip install imgtool==2.5.0" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
[[ -f "$dev_key" ]] || { echo "missing $dev_key (the committed development key)" >&2; exit 1; }

mkdir -p "$keys" "$images"

# Keys: trusted and untrusted Ed25519, one ECDSA P-256; public halves as imgtool getpub writes them.
make_key() { # name type
    [[ -f "$keys/$1.pem" ]] || imgtool keygen -k "$keys/$1.pem" -t "$2"
    imgtool getpub -k "$keys/$1.pem" -e pem -o "$keys/$1.pub.pem"
}
make_key trusted-ed25519 ed25519
make_key untrusted-ed25519 ed25519
make_key ecdsa-p256 ecdsa-p256

# Keys the crate must refuse with a clear message (only what the tests read is kept).
foreign="$keys/foreign"
mkdir -p "$foreign"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
if [[ ! -f "$foreign/rsa-2048.pub.pem" ]]; then
    imgtool keygen -k "$scratch/rsa.pem" -t rsa-2048
    imgtool getpub -k "$scratch/rsa.pem" -e pem -o "$foreign/rsa-2048.pub.pem"
fi
if [[ ! -f "$foreign/ecdsa-p384.pem" ]]; then
    imgtool keygen -k "$foreign/ecdsa-p384.pem" -t ecdsa-p384
fi
imgtool getpub -k "$foreign/ecdsa-p384.pem" -e pem -o "$foreign/ecdsa-p384.pub.pem"
if [[ ! -f "$foreign/x25519.pub.pem" ]]; then
    imgtool keygen -k "$scratch/x25519.pem" -t x25519
    imgtool getpub -k "$scratch/x25519.pem" -e pem -o "$foreign/x25519.pub.pem"
fi
if [[ ! -f "$foreign/encrypted-ed25519.pem" ]]; then
    # imgtool reads the password (and its confirmation) from stdin.
    printf 'fixture\nfixture\n' | imgtool keygen -k "$foreign/encrypted-ed25519.pem" -t ed25519 -p >/dev/null 2>&1
fi

# Payload: 2999 bytes (not a multiple of 4), SHA-256 in counter mode over a fixed seed, so the
# bytes never depend on a random generator's implementation.
python3 - "$images/payload.bin" <<'PY'
import hashlib, sys
out = bytearray()
i = 0
while len(out) < 2999:
    out += hashlib.sha256(b"atfota-image-fixture" + i.to_bytes(4, "little")).digest()
    i += 1
open(sys.argv[1], "wb").write(bytes(out[:2999]))
PY

# Every image uses the options atfota-image's `sign` reproduces.
sign() { # out [extra imgtool options...]
    local out="$1"; shift
    imgtool sign --header-size 0x200 --pad-header --align 4 --version 1.2.3+4 \
        "$@" "$images/payload.bin" "$images/$out" >/dev/null
}
sign signed-ed25519.bin --slot-size 0x10000 --key "$keys/trusted-ed25519.pem"
sign signed-ecdsa-p256.bin --slot-size 0x10000 --key "$keys/ecdsa-p256.pem"
sign unsigned.bin --slot-size 0x10000
sign signed-untrusted.bin --slot-size 0x10000 --key "$keys/untrusted-ed25519.pem"
sign signed-padded.bin --slot-size 0x4000 --pad --key "$keys/trusted-ed25519.pem"
sign signed-dev.bin --slot-size 0x10000 --key "$dev_key"
sign signed-sec-cnt.bin --slot-size 0x10000 --security-counter 7 --key "$keys/trusted-ed25519.pem"
sign signed-pubkey.bin --slot-size 0x10000 --public-key-format full --key "$keys/trusted-ed25519.pem"
sign signed-pure.bin --slot-size 0x10000 --pure --key "$keys/trusted-ed25519.pem"

# Bad hash: one body byte (offset 0x200 + 100) flipped after signing.
python3 - "$images/signed-ed25519.bin" "$images/bad-hash.bin" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[0x200 + 100] ^= 0x01
open(sys.argv[2], "wb").write(bytes(data))
PY

# Cross-check with the reference verifier (imgtool verify exits non-zero on failure).
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-ed25519.bin" >/dev/null
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-padded.bin" >/dev/null
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-sec-cnt.bin" >/dev/null
imgtool verify --key "$keys/ecdsa-p256.pem" "$images/signed-ecdsa-p256.bin" >/dev/null
imgtool verify --key "$dev_key" "$images/signed-dev.bin" >/dev/null
if imgtool verify --key "$keys/trusted-ed25519.pem" "$images/bad-hash.bin" >/dev/null; then
    echo "bad-hash.bin unexpectedly verifies" >&2; exit 1
fi

echo "fixtures written to $keys and $images"
