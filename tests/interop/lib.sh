# Shared by the interop scripts (sourced, never run alone): the release binary, a scratch
# directory removed on exit with every server started through `pids` stopped by PID,
# PASS/FAIL accounting, free loopback ports, and nginx started from the lines of its http
# block. Usage: `source "$(dirname "$0")/lib.sh" NAME` (NAME names the scratch directory).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${ATFOTA_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/atfota}
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)
d=$(mktemp -d "/tmp/atfota-$1.XXXXXX")
chmod 755 "$d"   # nginx workers and pure-ftpd run as unprivileged users
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$d"
}
trap cleanup EXIT INT TERM
fails=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; fails=$((fails + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx in the foreground under $d (its files relative to $d: www/, logs/, tmp/), one worker,
# loopback only; $1: the lines of the http block that differ (access log, TLS, servers).
start_nginx() {
  mkdir -p "$d/www" "$d/logs" "$d/tmp"
  cat >"$d/nginx.conf" <<CONF
worker_processes 1;  pid nginx.pid;  error_log stderr warn;
events { worker_connections 64; }
http {
  default_type application/octet-stream;  sendfile on;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
$1
}
CONF
  chmod -R a+rX "$d/www"
  nginx -p "$d" -c nginx.conf -e stderr -g 'daemon off;' 2>"$d/nginx.err" &
  pids+=($!)
}
