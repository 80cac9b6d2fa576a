#!/usr/bin/env bash
# Installs what the interop suite talks to: distribution packages and PyPI
# tools, pinned where their output matters. Idempotent; quiet when all is there.
set -euo pipefail
debs=(nginx curl socat picocom ppp time openssl)
# detools builds a C extension: a compiler, and the headers of the python3 pip installs into.
debs+=(gcc)
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || debs+=(python3-dev)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check \
  imgtool==2.5.0 detools==0.53.0 pyftpdlib==2.2.0 pyserial==3.5
