#!/usr/bin/env bash
# Remakes the data directory of a device created by atfota 0.1.0 as released at commit bb7f280
# (before modem partitions, the larger settings store and device.toml's optional fields), so the
# tests can prove that a device made by that build still opens and works.
#
# Usage: testdata/legacy-device/make.sh PATH-TO-ATFOTA-BUILT-AT-bb7f280
#   (git worktree add /tmp/old bb7f280 && cd /tmp/old && cargo build; then pass target/debug/atfota)
#
# What it makes: nrf9160-slm/ — a factory-fresh nrf9160-slm with 64 KiB slots (to keep the
# fixture small) that trusts testdata/keys/trusted-ed25519.pub.pem, booted once and answered AT.
set -euo pipefail
old="${1:?path to an atfota binary built at bb7f280}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rm -rf "$here/nrf9160-slm"
printf 'AT\r' | (cat; sleep 1) | "$old" modem --data "$here/nrf9160-slm" --slot-size 64K \
    --trust "$here/../keys/trusted-ed25519.pub.pem" >/dev/null
ls -l "$here/nrf9160-slm"
