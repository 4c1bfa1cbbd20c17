#!/usr/bin/env bash
# Installs what tsov needs on Debian 12 (as root) and builds it. Idempotent:
# skips apt when every package is there and npm ci when node_modules is current.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  containerd runc crun                                     # the real runtime stack the tests and demo drive (containerd 1.6)
  busybox-static tar                                       # small test images
  fuse-overlayfs                                           # the fuse backend
  attr                                                     # setfattr: the helper probes trusted.* and user.* xattrs
  golang-go golang-github-containerd-containerd-dev        # containerd's snapshotter conformance suite
  util-linux                                               # mount, umount, setpriv
  systemd iproute2                                         # systemd-analyze, systemd-socket-activate (unit and socket-activation tests); ss
  containernetworking-plugins                              # CNI ptp + host-local: pod networking for the CRI user-namespace test
  gcc libc6-dev                                            # builds tsov-helper's native piece (tsov-mount: openat-style checks, fd-based mounts)
)

need_node() {
  if ! command -v node >/dev/null; then
    echo "setup: Node.js >= 20.19 is required (node not found)" >&2; exit 1
  fi
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || {
    echo "setup: Node.js >= 20.19 is required, found $(node --version)" >&2; exit 1; }
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# containerd 1.7 and 2.1 (Debian 13's and unstable's packages) unpacked beside the
# system's 1.6, and crun 1.21 built from Debian 13's source, for the version
# matrix; harness/containerd-versions.ts names them.
bash scripts/fetch-runtimes.sh

need_node
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci (builds better-sqlite3 and tsov)"
  npm ci --no-audit --no-fund
else
  npm run build --silent
fi
