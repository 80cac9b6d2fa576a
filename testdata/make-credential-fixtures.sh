#!/usr/bin/env bash
# Regenerates the AT%CMNG credential fixtures: testdata/credentials/.
#
# Needs `openssl` (3.x) on PATH; it installs nothing. Every run makes new keys and
# certificates (tests compare them with what they send, never with fixed digests).
# These keys are throw-away test material: they protect nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/testdata/credentials"
command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 1; }
mkdir -p "$out"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# A CA and a client certificate it signed (ECDSA P-256, as nRF91 deployments use).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=atfota test CA" -keyout "$scratch/ca-key.pem" -out "$out/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=atfota test device" -keyout "$out/client-key-pkcs8.pem" -out "$scratch/client.csr" 2>/dev/null
openssl x509 -req -in "$scratch/client.csr" -CA "$out/ca.pem" -CAkey "$scratch/ca-key.pem" \
    -CAcreateserial -CAserial "$scratch/ca.srl" -days 3650 -out "$out/client.pem" 2>/dev/null

# The same client key in the other unencrypted forms a host may send.
openssl ec -in "$out/client-key-pkcs8.pem" -out "$out/client-key-sec1.pem" 2>/dev/null
openssl genrsa -traditional -out "$out/rsa-key-pkcs1.pem" 2048 2>/dev/null

# Encrypted keys, which the store refuses: PKCS#8 and the legacy Proc-Type header.
openssl pkcs8 -topk8 -in "$out/client-key-pkcs8.pem" -passout pass:secret \
    -out "$out/client-key-encrypted.pem"
openssl ec -in "$out/client-key-pkcs8.pem" -aes256 -passout pass:secret \
    -out "$out/client-key-sec1-encrypted.pem" 2>/dev/null

echo "wrote $(ls "$out" | wc -l) files to $out"
