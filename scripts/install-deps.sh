#!/usr/bin/env bash
# Installs the Debian packages netboot's build and tests use, then the npm dependencies.
# Safe to run again: apt-get and npm ci are idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# libarchive-tools: bsdtar, the reader FreeBSD uses; cpio: GNU cpio, the second reader;
# make: the bench's baseline; coreutils/tar: sleep, sync, cp --reflink used by plugins;
# rsync + openssh: publishing to ssh:// SAN roots (the tests start their own sshd on 127.0.0.1).
PACKAGES=(libarchive-tools cpio make tar coreutils procps rsync openssh-client openssh-server)
if ! command -v node >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${PACKAGES[@]}"

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "netboot needs Node.js 20 or newer; this machine has $(node --version)." >&2
  echo "Install a newer nodejs (Debian trixie, or NodeSource) and run this again." >&2
  exit 1
fi

npm ci
