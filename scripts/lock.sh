#!/usr/bin/env bash
# Record the exact versions installed in the venv (the ones the test suite passed with) in
# constraints.txt, which `make setup`, the README's install steps and CI install through.
# Usage: scripts/lock.sh [VENV]   (default .venv; run `make test` first, then commit the file)
set -euo pipefail
venv="${1:-.venv}"
out="$(dirname "$0")/../constraints.txt"
{
    echo "# Exact versions the test suite passed with: pip install -c constraints.txt ..."
    echo "# Regenerate with \`make lock\` (scripts/lock.sh) after a green \`make test\`."
    echo "# torch is recorded without its local label (+cpu): install it first as torch==2.13.0."
    "$venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check |
        sed -E 's/^(torch==[^+]+)\+.*/\1/' |
        LC_ALL=C sort -f
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $(grep -c '^[^#]' "$out") pins to constraints.txt"
