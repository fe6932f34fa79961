#!/usr/bin/env bash
# The README's first command: set up a fresh Debian machine and build the default config's hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx netboot build --all
npx netboot ls
