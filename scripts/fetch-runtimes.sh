#!/usr/bin/env bash
# Newer container runtimes, as Debian packages them, beside the system's
# containerd 1.6 and crun 1.8 (Debian 12), for the version matrix of the tests
# and the bench. Run by scripts/setup.sh; idempotent (what is there is kept).
#
#   $TSOV_CACHE/containerd/1.7.24/usr/bin   containerd 1.7.24 (Debian 13's .deb, unpacked)
#   $TSOV_CACHE/containerd/2.1.9/usr/bin    containerd 2.1.9 (Debian unstable's .deb, unpacked)
#   $TSOV_CACHE/crun/1.21/crun              crun 1.21, built from Debian 13's source
#
# Put a containerd directory first in PATH so containerd finds its own shim.
# crun 1.8.1 refuses the specs containerd 1.7.24 and 2.1.9 write ("unknown
# version specified": their ociVersion is 1.2.0 / 1.2.1), and Debian 13's crun
# binary needs glibc 2.38; its source builds against Debian 12's libraries.
#
# Nothing is installed system-wide but build dependencies: a private apt
# configuration (its own sources file, lists and cache below $TSOV_CACHE/apt)
# reads the system's Debian sources with the suite replaced, so apt checks the
# archive's signatures and each file's checksum as usual (the source tarball's
# SHA-256 is checked against the signed Sources index here too).
set -euo pipefail

cache=${TSOV_CACHE:-/var/cache/tsov}
system_sources=/etc/apt/sources.list.d/debian.sources
CRUN_BUILD_DEPENDENCIES=(gcc make pkgconf python3 gperf libcap-dev libseccomp-dev libyajl-dev)

say() { echo "fetch-runtimes: $*"; }
fail() { echo "fetch-runtimes: $*" >&2; exit 1; }

# apt_for SUITE TYPE: sets apt_options to a private apt configuration for that
# suite ("deb" or "deb-src") and refreshes its lists.
apt_for() {
  local suite=$1 type=$2 dir=$cache/apt/$1-$2
  [[ -r $system_sources ]] || fail "$system_sources is missing; this script expects Debian 12's deb822 sources"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  # The system's main Debian stanza (not the security one), with its suite and type replaced.
  awk -v suite="$suite" -v type="$type" 'BEGIN { RS = ""; ORS = "\n\n" }
    $0 ~ /URIs: [^ \n]*\/debian(\n|$)/ && $0 !~ /debian-security/ {
      sub(/Suites:[^\n]*/, "Suites: " suite); sub(/Types:[^\n]*/, "Types: " type); print; exit }' \
    "$system_sources" > "$dir/debian.sources"
  [[ -s $dir/debian.sources ]] || fail "no deb.debian.org stanza in $system_sources to take the $suite suite from"
  apt_options=(
    -o "Dir::Etc::SourceList=$dir/debian.sources" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o Dir::State::Status=/dev/null
    -o APT::Sandbox::User=root -q
  )
  apt-get "${apt_options[@]}" update >/dev/null
}

# debian_version PACKAGE UPSTREAM [--source]: Debian's version of that upstream release (1.7.24~ds1-6+deb13u1).
debian_version() {
  local found
  if [[ ${3:-} == --source ]]; then
    found=$(apt-cache "${apt_options[@]}" showsrc "$1" | awk -v v="$2" '/^Version:/ && $2 ~ "^" v "[-~+]" { print $2; exit }')
  else
    found=$(apt-cache "${apt_options[@]}" madison "$1" | awk -v v="$2" '$3 ~ "^" v "[-~+]" { print $3; exit }')
  fi
  [[ -n $found ]] || fail "Debian has no $1 $2 in that suite"
  echo "$found"
}

fetch_containerd() {
  local suite=$1 version=$2 target=$cache/containerd/$2
  [[ -x $target/usr/bin/containerd && -x $target/usr/bin/containerd-shim-runc-v2 && -x $target/usr/bin/ctr ]] && return
  say "containerd $version from Debian $suite into $target"
  apt_for "$suite" deb
  local package_version download=$cache/apt/$suite-deb/download
  package_version=$(debian_version containerd "$version")
  rm -rf "$download" "$target.partial" && mkdir -p "$download" "$(dirname "$target")"
  (cd "$download" && apt-get "${apt_options[@]}" download "containerd=$package_version" >/dev/null)
  dpkg-deb -x "$download"/containerd_*.deb "$target.partial"
  "$target.partial/usr/bin/containerd" --version
  rm -rf "$target" && mv "$target.partial" "$target"
}

build_crun() {
  local suite=$1 version=$2 target=$cache/crun/$2
  [[ -x $target/crun ]] && return
  say "crun $version from Debian $suite's source into $target"
  local missing=() pkg
  for pkg in "${CRUN_BUILD_DEPENDENCIES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if ((${#missing[@]} > 0)); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  apt_for "$suite" deb-src
  local package_version tarball expected work=$cache/apt/$suite-deb-src/build
  package_version=$(debian_version crun "$version" --source)
  tarball="crun_$version.orig.tar.gz"
  expected=$(apt-cache "${apt_options[@]}" showsrc "crun" | awk -v f="$tarball" '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 } on && $3 == f { print $1; exit }')
  [[ -n $expected ]] || fail "Debian's Sources index lists no $tarball for crun $package_version"
  rm -rf "$work" && mkdir -p "$work"
  # Only the upstream tarball is needed (Debian's patches are packaging); apt
  # fetches it into place once its checksum matched, whatever happens to the rest.
  (cd "$work" && apt-get "${apt_options[@]}" source --download-only "crun=$package_version" >/dev/null 2>&1) || true
  [[ -f $work/$tarball ]] || fail "could not download $tarball from Debian $suite"
  echo "$expected  $work/$tarball" | sha256sum --check --quiet || fail "$tarball does not match Debian's Sources index"
  tar -xzf "$work/$tarball" -C "$work"
  (cd "$work/crun-$version" && ./configure --disable-systemd --disable-criu >"$work/configure.log" 2>&1 && make -j"$(nproc)" >"$work/make.log" 2>&1) ||
    fail "building crun $version failed; see $work/configure.log and $work/make.log"
  mkdir -p "$target.partial" && cp "$work/crun-$version/crun" "$target.partial/crun"
  "$target.partial/crun" --version | head -1
  rm -rf "$target" && mv "$target.partial" "$target"
}

fetch_containerd trixie 1.7.24
fetch_containerd sid 2.1.9
build_crun trixie 1.21
