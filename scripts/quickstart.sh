#!/usr/bin/env bash
# The README's first command: set up a fresh Debian machine, then build the default config's
# hosts and publish them to ./san.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx netboot publish --all
npx netboot ls
