#!/usr/bin/env bash
# The README's first command: set up a fresh Debian machine (Debian packages, npm deps, the host
# tools the recipes need), then build the default config's host and publish it to ./san.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx netboot doctor --fix
npx netboot publish bullseye-nbd
npx netboot releases bullseye-nbd
