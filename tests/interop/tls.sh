#!/usr/bin/env bash
# Interop, trust: HTTPS updates from nginx with a CA (and a client certificate for mutual TLS)
# provisioned through the AT port exactly as Nordic's tools send it (AT+CFUN=4, AT%CMNG=0 with
# the PEM's line breaks inside the quotes, CRLF), certificates made by openssl here; and
# imgtool verifying images atfota signs with every key type. Prints PASS/FAIL per check.
set -euo pipefail
source "$(dirname "$0")/lib.sh" tls
at() { python3 "$root/tests/interop/atclient.py" "$@" >>"$d/at.log" 2>&1; }

# --- every imgtool key type: atfota signs, imgtool verifies ----------------
python3 -c "import os; open('$d/payload.bin','wb').write(os.urandom(50_000))"
for k in trusted-ed25519 ecdsa-p256 ecdsa-p384 rsa-2048 rsa-3072; do
  "$bin" image sign "$d/payload.bin" "$d/$k.bin" --version 2.0.0 --key "$root/testdata/keys/$k.pem" >/dev/null 2>&1
  if imgtool verify -k "$root/testdata/keys/$k.pem" "$d/$k.bin" >"$d/verify.txt" 2>&1; then
    pass "imgtool verify accepts an image atfota signed with $k"
  else fail "imgtool verify rejects atfota's $k image: $(tail -2 "$d/verify.txt")"; fi
done
"$bin" image sign "$d/payload.bin" "$d/pure.bin" --version 2.0.0 --pure --key "$root/testdata/keys/trusted-ed25519.pem" >/dev/null 2>&1
if imgtool verify -k "$root/testdata/keys/trusted-ed25519.pem" "$d/pure.bin" >"$d/verify.txt" 2>&1; then
  pass "imgtool verify accepts an image atfota signed --pure"
else fail "imgtool verify rejects atfota's pure image: $(tail -2 "$d/verify.txt")"; fi

# --- a PKI made by openssl -------------------------------------------------
cd "$d"
mkca() { # name
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" \
    -out "$1.crt" -days 3650 -subj "/CN=$1" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
mkleaf() { # name ca ext
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$1" 2>/dev/null
  printf '%b' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days 825 \
    -extfile "$1.ext" 2>/dev/null
}
mkca ca; mkca otherca; mkca clientca
mkleaf server ca 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n'
mkleaf device clientca 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
cd - >/dev/null

# --- nginx over TLS, one server with ssl_verify_client on ---------------------
mkdir -p "$d/www" "$d/logs" "$d/tmp"
"$bin" image sign "$d/payload.bin" "$d/www/app.bin" --version 2.0.0 >/dev/null 2>&1
"$bin" image sign "$d/payload.bin" "$d/www/app3.bin" --version 3.0.0 >/dev/null 2>&1
chmod -R a+rX "$d/www" "$d"/*.crt "$d"/*.key
tls=$(free_port); mtls=$(free_port)
start_nginx "  log_format tls '\$server_port \$request \$status \$ssl_protocol client=\$ssl_client_verify';
  access_log logs/access.log tls;
  ssl_protocols TLSv1.2 TLSv1.3;  ssl_certificate server.crt;  ssl_certificate_key server.key;
  server { listen 127.0.0.1:$tls ssl; root www; }
  server { listen 127.0.0.1:$mtls ssl; root www; ssl_client_certificate clientca.crt; ssl_verify_client on; }"
for _ in $(seq 50); do curl -fs --cacert "$d/ca.crt" -o /dev/null "https://127.0.0.1:$tls/app.bin" && break; sleep 0.1; done
curl -fs --cacert "$d/ca.crt" -o /dev/null "https://127.0.0.1:$tls/app.bin" || { fail "nginx does not serve over TLS"; cat "$d/nginx.err"; exit 1; }

start_modem() { # $1 data dir, $2 link
  "$bin" modem --data "$1" --listen "pty:$2" --recv-timeout 5 2>>"$d/modem.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -e "$2" ] && break; sleep 0.05; done
}
provision() { # $1 link, $2 tag, rest: type:file pairs
  local link=$1 tag=$2; shift 2
  local steps=("send:AT+CMEE=1" "send:AT+CFUN=4")
  for tf in "$@"; do steps+=("crlf:AT%CMNG=0,$tag,${tf%%:*},\"{}\":${tf#*:}"); done
  steps+=("send:AT+CFUN=1")
  at "$link" "${steps[@]}"
}

# 1. HTTPS with the CA from AT%CMNG; the list shows the SHA-256 of what was sent.
start_modem "$d/dev1" "$d/modem1"
want=$(python3 -c "import hashlib,sys; t=open(sys.argv[1]).read().rstrip('\n').replace('\n','\r\n'); print(hashlib.sha256(t.encode()).hexdigest().upper())" "$d/ca.crt")
if provision "$d/modem1" 16842753 "0:$d/ca.crt" && at "$d/modem1" "cmd:AT%CMNG=1,16842753" \
  && grep -q "%CMNG: 16842753,0,\"$want\"" "$d/at.log"; then
  pass "AT%CMNG over a PTY: the CA written with CRLF line breaks, listed with the SHA-256 of what was sent"
else fail "AT%CMNG provisioning (see at.log)"; fi
if at "$d/modem1" "send:AT#XFOTA=1,\"https://127.0.0.1:$tls/app.bin\",16842753" "expect:#XFOTA: 4,0" \
     "send:AT#XRESET" "expect:Ready" "expect:#XFOTA: 5,0" && grep -q "^$tls GET /app.bin HTTP/1.1 200 TLSv1.3" "$d/logs/access.log"; then
  pass "HTTPS update from nginx (TLS 1.3) verified against the CA from the credential store: 4,0, reset, 5,0"
else fail "HTTPS update (see at.log, modem.log, nginx access log: $(tail -2 "$d/logs/access.log"))"; fi

# 2. Mutual TLS: nginx requires a client certificate signed by clientca.
: >"$d/at.log"
if at "$d/modem1" "send:AT#XFOTA=1,\"https://127.0.0.1:$mtls/app3.bin\",16842753" "contains:#XFOTA: 1,1,1"; then
  pass "mutual TLS without a client certificate in the sec_tag: #XFOTA: 1,1,1"
else fail "mTLS without a client certificate was not refused (see at.log)"; fi
if provision "$d/modem1" 16842753 "1:$d/device.crt" "2:$d/device.key" \
   && at "$d/modem1" "send:AT#XFOTA=1,\"https://127.0.0.1:$mtls/app3.bin\",16842753" "expect:#XFOTA: 4,0" \
        "send:AT#XRESET" "expect:Ready" "expect:#XFOTA: 5,0" \
   && grep -q "^$mtls GET /app3.bin HTTP/1.1 200 TLSv1.[23] client=SUCCESS" "$d/logs/access.log"; then
  pass "mutual TLS: the client certificate and key from AT%CMNG, accepted by nginx (ssl_verify_client on)"
else fail "mutual TLS update (see at.log, modem.log, access log: $(tail -2 "$d/logs/access.log"))"; fi

# 3. A CA that did not sign the server: refused, nothing downloaded.
start_modem "$d/dev2" "$d/modem2"
: >"$d/at.log"
if provision "$d/modem2" 7 "0:$d/otherca.crt" \
   && at "$d/modem2" "send:AT#XFOTA=1,\"https://localhost:$tls/app.bin\",7" "contains:#XFOTA: 1,1,1" \
   && grep -q "UnknownIssuer\|unknown issuer\|invalid peer certificate" "$d/modem.log"; then
  pass "a server certificate from another CA is refused: #XFOTA: 1,1,1, the cause in the log"
else fail "another CA was not refused (see at.log, modem.log)"; fi

echo
[ "$fails" -eq 0 ] || { echo "tls: $fails check(s) failed"; tail -30 "$d/modem.log"; tail -20 "$d/at.log"; exit 1; }
echo "tls: all checks passed"
