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
# The Debian NBD recipe and its tests: mmdebstrap, e2fsprogs (mke2fs -d, debugfs, e2fsck),
# pxelinux + syslinux-common, and the real servers and readers the tests run: qemu (the boot
# test), nbd-server + nbdinfo, dnsmasq and isc-dhcp-server (syntax checks only).
PACKAGES+=(xz-utils mmdebstrap e2fsprogs util-linux iproute2 pxelinux syslinux-common qemu-system-x86 ipxe-qemu nbd-server libnbd-bin dnsmasq isc-dhcp-server)
# The NFS-root boot test: nfs-ganesha (user space) with the rpcbind it needs for NFSv3, in a private network namespace.
PACKAGES+=(nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils)
# FreeBSD packages (.pkg) are zstd-compressed tar since pkg 1.17 (issue 17)
PACKAGES+=(zstd)
# The remote cache's tests: docker-registry (CNCF distribution, started on 127.0.0.1 by the
# tests) and apache2-utils (htpasswd -B: the registry's bcrypt basic-auth file); openssl makes the TLS cert.
PACKAGES+=(docker-registry apache2-utils openssl)
# UEFI network boot (issue 15): signed shim and GRUB for the TFTP tree, OVMF for boot-test --firmware, iPXE loaders
PACKAGES+=(shim-signed grub-efi-amd64-signed ovmf ipxe)
# Debian update tests: apt-ftparchive (apt-utils) writes a local security archive's indexes; dpkg-deb builds its canary.
PACKAGES+=(apt-utils dpkg)
# Steps that edit a tree on an overlay (ctx.editTree) read and clear overlayfs's xattrs with getfattr and setfattr.
PACKAGES+=(attr)
# netboot nightly --install-timer (issue 14): its tests check the generated units with systemd-analyze verify
# (it parses units and checks ExecStart's program without systemd running as PID 1).
PACKAGES+=(systemd)
# The SAN side (issue 16): tgt (tgtd, tgt-admin) serves the hosts' iSCSI disks in netboot serve and its tests.
PACKAGES+=(tgt)
# The bench's baseline for a cold Debian build is the manual sequence, which debootstraps.
PACKAGES+=(debootstrap)
if ! command -v node >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

export DEBIAN_FRONTEND=noninteractive
# Installing dnsmasq or isc-dhcp-server must not start them (port 53, DHCP on the LAN): a
# policy-rc.d forbids service starts for the duration, unless the machine already has one.
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=""
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod 755 "$POLICY" && OWN_POLICY=1
fi
cleanup() { if [ -n "$OWN_POLICY" ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${PACKAGES[@]}"

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "netboot needs Node.js 20 or newer; this machine has $(node --version)." >&2
  echo "Install a newer nodejs (Debian trixie, or NodeSource) and run this again." >&2
  exit 1
fi

npm ci
