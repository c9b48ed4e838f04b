#!/usr/bin/env bash
# Debian packages the test suite drives for real, beyond the Python venv:
#   chromium    — tests/test_prefect_ui.py opens the Prefect UI through Playwright
#                 (executable_path=/usr/bin/chromium; never `playwright install`)
#   postgresql  — the store tests also run on a throwaway cluster (scripts/start-postgres.sh)
# Idempotent: installs only what is missing. Needs root (or sudo) and Debian's registry only.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-liberation)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
if [ ${#missing[@]} -eq 0 ]; then
    echo "system deps present: chromium, postgresql"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-system-deps: missing ${missing[*]} and not root (no sudo); run as root:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
