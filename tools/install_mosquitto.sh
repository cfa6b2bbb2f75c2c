#!/usr/bin/env bash
# Installs Debian's mosquitto broker (used by test/cloud and bench/cloud.py) if it is missing.
# Idempotent and quiet: does nothing when /usr/sbin/mosquitto is present. The system service is
# not needed (tests start their own broker on 127.0.0.1); it is stopped and disabled if apt started it.
set -euo pipefail

if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install_mosquitto: mosquitto is missing and this user cannot install packages (no root, no sudo)" >&2
        exit 1
    fi
else
    SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
candidate=$(apt-cache policy mosquitto 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    $SUDO apt-get update -qq >/dev/null
fi
$SUDO apt-get install -y -qq --no-install-recommends mosquitto >/dev/null

# Keep a system broker from holding port 1883 where an init system started it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi

if ! [ -x /usr/sbin/mosquitto ]; then
    echo "install_mosquitto: apt-get finished but /usr/sbin/mosquitto is absent" >&2
    exit 1
fi
