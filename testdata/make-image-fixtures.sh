#!/usr/bin/env bash
# Regenerates the MCUboot image fixtures of atfota-image: testdata/keys/ and testdata/images/.
#
# Needs `imgtool` (mcuboot's signing tool, 2.5.0 checked), `python3` and `openssl` on PATH; it installs
# nothing. Get imgtool with:  pip install imgtool==2.5.0
#
# Idempotent: keys are generated only when missing (delete testdata/keys/*.pem to rotate them),
# images are rebuilt every run. Ed25519 signatures are deterministic, so re-running gives
# byte-identical Ed25519 images. ECDSA and RSA-PSS signatures are randomized: regenerating changes
# the bytes of those images (they still verify; tests compare them structurally).
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
command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 1; }
[[ -f "$dev_key" ]] || { echo "missing $dev_key (the committed development key)" >&2; exit 1; }

mkdir -p "$keys" "$images"

# Keys: trusted and untrusted Ed25519, and one of every other type imgtool signs with; public
# halves as imgtool getpub writes them.
make_key() { # name type
    [[ -f "$keys/$1.pem" ]] || imgtool keygen -k "$keys/$1.pem" -t "$2"
    imgtool getpub -k "$keys/$1.pem" -e pem -o "$keys/$1.pub.pem"
}
make_key trusted-ed25519 ed25519
make_key untrusted-ed25519 ed25519
make_key ecdsa-p256 ecdsa-p256
make_key ecdsa-p384 ecdsa-p384
make_key rsa-2048 rsa-2048
make_key rsa-3072 rsa-3072

# Keys the crate must refuse with a clear message (only what the tests read is kept).
foreign="$keys/foreign"
mkdir -p "$foreign"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
if [[ ! -f "$foreign/rsa-4096.pub.pem" ]]; then
    # MCUboot only has RSA-2048 and RSA-3072, so imgtool cannot make this one.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$scratch/rsa.pem" 2>/dev/null
    openssl pkey -in "$scratch/rsa.pem" -pubout -out "$foreign/rsa-4096.pub.pem"
fi
if [[ ! -f "$foreign/rsa-1024.pem" ]]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$foreign/rsa-1024.pem" 2>/dev/null
fi
if [[ ! -f "$foreign/ecdsa-p521.pub.pem" ]]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$scratch/p521.pem"
    openssl pkey -in "$scratch/p521.pem" -pubout -out "$foreign/ecdsa-p521.pub.pem"
fi
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
sign signed-ecdsa-p384.bin --slot-size 0x10000 --key "$keys/ecdsa-p384.pem"
sign signed-rsa2048.bin --slot-size 0x10000 --key "$keys/rsa-2048.pem"
sign signed-rsa3072.bin --slot-size 0x10000 --key "$keys/rsa-3072.pem"
# The key named by a full PUBKEY TLV, for every key type (signed-pubkey.bin is the Ed25519 one).
for name in ecdsa-p256 ecdsa-p384 rsa-2048 rsa-3072; do
    sign "signed-pubkey-$name.bin" --slot-size 0x10000 --public-key-format full --key "$keys/$name.pem"
done
sign signed-pubkey-pure.bin --slot-size 0x10000 --public-key-format full --pure \
    --key "$keys/trusted-ed25519.pem"
sign signed-p384-sec-cnt.bin --slot-size 0x10000 --security-counter 0x10203 --key "$keys/ecdsa-p384.pem"

# Bad hash: one body byte (offset 0x200 + 100) flipped after signing.
python3 - "$images/signed-ed25519.bin" "$images/bad-hash.bin" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[0x200 + 100] ^= 0x01
open(sys.argv[2], "wb").write(bytes(data))
PY

# RSA-PSS with a 20-byte salt instead of imgtool's 32: the same image as signed-rsa2048.bin,
# its signature TLV replaced by one openssl makes over the hashed region.
python3 - "$images/signed-rsa2048.bin" "$scratch/region.bin" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
hdr_size, prot, img_size = struct.unpack_from("<HHI", data, 8)
open(sys.argv[2], "wb").write(data[:hdr_size + img_size + prot])
PY
openssl dgst -sha256 -sign "$keys/rsa-2048.pem" -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:20 -sigopt rsa_mgf1_md:sha256 -out "$scratch/salt20.sig" "$scratch/region.bin"
python3 - "$images/signed-rsa2048.bin" "$scratch/salt20.sig" "$images/rsa-salt20.bin" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
sig = open(sys.argv[2], "rb").read()
assert len(sig) == 256
hdr_size, prot, img_size = struct.unpack_from("<HHI", data, 8)
at = hdr_size + img_size + prot
magic, total = struct.unpack_from("<HH", data, at)
end, at = at + total, at + 4
while at < end:
    kind, length = struct.unpack_from("<HH", data, at)
    if kind == 0x20:
        data[at + 4:at + 4 + length] = sig
    at += 4 + length
open(sys.argv[3], "wb").write(bytes(data))
PY

# Cross-check with the reference verifier (imgtool verify exits non-zero on failure).
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-ed25519.bin" >/dev/null
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-padded.bin" >/dev/null
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-sec-cnt.bin" >/dev/null
imgtool verify --key "$keys/ecdsa-p256.pem" "$images/signed-ecdsa-p256.bin" >/dev/null
imgtool verify --key "$dev_key" "$images/signed-dev.bin" >/dev/null
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-pure.bin" >/dev/null
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-pubkey-pure.bin" >/dev/null
imgtool verify --key "$keys/trusted-ed25519.pem" "$images/signed-pubkey.bin" >/dev/null
imgtool verify --key "$keys/ecdsa-p384.pem" "$images/signed-ecdsa-p384.bin" >/dev/null
imgtool verify --key "$keys/ecdsa-p384.pem" "$images/signed-p384-sec-cnt.bin" >/dev/null
imgtool verify --key "$keys/rsa-2048.pem" "$images/signed-rsa2048.bin" >/dev/null
imgtool verify --key "$keys/rsa-3072.pem" "$images/signed-rsa3072.bin" >/dev/null
for name in ecdsa-p256 ecdsa-p384 rsa-2048 rsa-3072; do
    imgtool verify --key "$keys/$name.pem" "$images/signed-pubkey-$name.bin" >/dev/null
done
if imgtool verify --key "$keys/rsa-2048.pem" "$images/rsa-salt20.bin" >/dev/null; then
    echo "rsa-salt20.bin unexpectedly verifies" >&2; exit 1
fi
if imgtool verify --key "$keys/trusted-ed25519.pem" "$images/bad-hash.bin" >/dev/null; then
    echo "bad-hash.bin unexpectedly verifies" >&2; exit 1
fi

echo "fixtures written to $keys and $images"
