#!/usr/bin/env bash
# System packages the test suite needs beyond the Python venv: Debian's chromium, driven by
# Playwright (executable_path=/usr/bin/chromium) in tests/test_prefect_ui.py. Idempotent: does
# nothing when chromium is already there. Needs root (or sudo) and the Debian package registry
# only; never downloads browsers from anywhere else (no `playwright install`).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium present: $(command -v chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-system-deps: chromium missing and not root (no sudo); run as root:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
echo "chromium installed: $(command -v chromium)"
