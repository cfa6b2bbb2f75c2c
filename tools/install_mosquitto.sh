#!/usr/bin/env bash
# Installs Debian's mosquitto broker (test/cloud and bench/cloud.py start it on 127.0.0.1) if it
# is missing. Idempotent and quiet: nothing happens, nothing is printed, when it is installed;
# apt's output is shown only if the installation fails. The system service is not needed and is
# disabled where an init system started it.
set -euo pipefail

if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install_mosquitto: mosquitto is missing and this user cannot install packages (no root, no sudo)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() {
    cat "$log" >&2
    echo "install_mosquitto: $1" >&2
    exit 1
}

# Package lists may be missing (fresh container) or stale (candidate gone from the mirror).
candidate=$(apt-cache policy mosquitto 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    $SUDO apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed"
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends mosquitto >"$log" 2>&1; then
    $SUDO apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed"
    $SUDO apt-get install -y -qq --no-install-recommends mosquitto >"$log" 2>&1 || fail "apt-get install mosquitto failed"
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi

[ -x /usr/sbin/mosquitto ] || fail "apt-get finished but /usr/sbin/mosquitto is absent"
