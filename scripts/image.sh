#!/usr/bin/env bash
# Builds svctrace's container image from Debian's packages and nothing else (no registry, no base
# image): cpack's .deb of BUILD_DIR, installed on a base that mmdebstrap makes from the mirror and
# release this machine's apt uses: Debian's essential set, merged /usr, and the package's Depends and
# Recommends (iptables and nftables, which svctrace runs to read the NAT rules). No other recommends,
# no apt (and so no package lists), no docs, man pages or locales (dpkg path-exclude; the copyright
# files stay). Then that root filesystem as the one layer of an OCI image, by umoci. Needs root and
# `scripts/install-deps.sh --image`.
#
# Usage: scripts/image.sh [BUILD_DIR]          (default: build)
# Writes BUILD_DIR/image/svctrace-VERSION.oci.tar, an OCI image archive naming svctrace:VERSION
# (`podman load -i FILE`; `skopeo copy oci-archive:FILE docker://REGISTRY/svctrace:VERSION`).
#
# Two things are reused, each for a day at most (then Debian's updates come in):
# - the archive, while its key (BUILD_DIR/image/key: the package's files and control fields, this
#   script, the Debian sources and release) is unchanged: a rebuilt binary always gets a new image;
# - the base, in IMAGE_CACHE (default /var/cache/svctrace-image), by the package's Depends and
#   Recommends, this script, the sources and the release: it holds nothing of svctrace.
# Remove them to force a rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
script=$PWD/scripts/image.sh

build=$(cd "${1:-build}" && pwd)
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[[ -n $version ]] || { echo "image: no project version in $build/CMakeCache.txt (not a build dir?)" >&2; exit 1; }
out=$build/image
archive=$out/svctrace-$version.oci.tar

# The .deb's Depends name this release's library packages (libfmt9, libspdlog1.10...): the image is
# the same Debian release as the machine that built it, from the mirror its apt already uses.
# shellcheck disable=SC1091  # the machine's own
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:?}")
sources=${IMAGE_SOURCES:-/etc/apt/sources.list.d/debian.sources}
[[ -f $sources ]] || sources=/etc/apt/sources.list
[[ -f $sources ]] || { echo "image: no Debian apt sources at $sources (set IMAGE_SOURCES)" >&2; exit 1; }

started=$SECONDS
log() { echo "image: [$((SECONDS - started)) s] $*" >&2; }
mkdir -p "$out"
tmp=$(mktemp -d "$out/tmp.XXXXXX")
chmod 755 "$tmp" # apt downloads as its own user, _apt, into mmdebstrap's tree below it
trap 'rm -rf "$tmp"' EXIT

log "packaging $build with cpack"
(cd "$build" && cpack -G DEB -B "$tmp/deb") >"$tmp/cpack.log" 2>&1 ||
  { tail -5 "$tmp/cpack.log" >&2; log "cpack failed"; exit 1; }
deb=$(echo "$tmp"/deb/svctrace_*.deb)
[[ -f $deb ]] || { log "cpack made no svctrace_*.deb"; exit 1; }

# The key: what the image is made of, not when (cpack stamps each .deb with the time it ran).
key=$({
  dpkg-deb -f "$deb"
  dpkg-deb --fsys-tarfile "$deb" | tar -xO | sha256sum
  sha256sum "$script" "$sources"
  echo "$suite"
} | sha256sum | cut -d' ' -f1)
if [[ -f $archive && $(cat "$out/key" 2>/dev/null) == "$key" ]] &&
  [[ -n $(find "$archive" -mmin -1440) ]]; then
  log "$archive is up to date (key $key)"
  echo "$archive"
  exit 0
fi
rm -f "$archive" "$out/key"

# The base: Debian's essential set with the package's Depends and Recommends, by mmdebstrap (minutes:
# it extracts and configures ~80 packages). It holds nothing of svctrace, so one base serves every
# build whose package asks for the same packages: kept in the machine's cache, keyed by those fields,
# this script, the sources and the release, for a day at most (then it takes Debian's updates). Safe
# to share: dpkg checks the Depends' versions when it installs svctrace on it, and a base is renamed
# into place only once complete.
cache=${IMAGE_CACHE:-/var/cache/svctrace-image}
mkdir -p "$cache"
find "$cache" -maxdepth 1 -name 'base-*.tar' -mmin +1440 -delete
wanted=$(dpkg-deb -f "$deb" Depends Recommends | sed 's/^[A-Za-z-]*: //' | tr ',' '\n' |
  sed 's/|.*//; s/(.*)//; s/ //g' | grep . | sort -u | paste -sd,)
base_key=$({ dpkg-deb -f "$deb" Depends Recommends; cat "$script" "$sources"; echo "$suite"; } |
  sha256sum | cut -d' ' -f1)
base=$cache/base-$base_key.tar
if [[ -f $base ]]; then
  log "base from the cache: $base"
else
  log "base: Debian $suite's essential set and $wanted, with mmdebstrap"
  excludes=()
  for dir in doc man info locale; do excludes+=(--dpkgopt="path-exclude=/usr/share/$dir/*"); done
  excludes+=(--dpkgopt='path-include=/usr/share/doc/*/copyright')
  # dpkg fsyncs every file it writes: on a tmpfs of a private mount namespace that costs less, and the
  # scratch tree vanishes with the namespace whatever ends the build.
  mkdir "$tmp/scratch"
  # shellcheck disable=SC2016  # expanded by that sh
  unshare --mount --propagation private env TMPDIR="$tmp/scratch" \
    sh -c 'mount -t tmpfs -o size=2g tmpfs "$TMPDIR" && exec "$@"' mmdebstrap-on-tmpfs \
    mmdebstrap --variant=essential --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include="$wanted" "${excludes[@]}" "$suite" "$tmp/base.tar" "$sources" ||
    { log "mmdebstrap failed"; exit 1; }
  mv "$tmp/base.tar" "$base.$$" && mv "$base.$$" "$base"
fi

# The root filesystem: the base with the package installed by the base's own dpkg (which keeps the
# base's path-exclude settings), on a tmpfs of a private mount namespace.
log "root filesystem: $(basename "$deb") installed on the base"
mkdir "$tmp/root"
tarflags=(--numeric-owner --xattrs --xattrs-include='*')
# shellcheck disable=SC2016  # expanded by that sh
unshare --mount --propagation private sh -euc '
  root=$1 base=$2 deb=$3 out=$4
  shift 4
  mount -t tmpfs -o size=2g tmpfs "$root"
  tar -C "$root" -xpf "$base" "$@"
  cp "$deb" "$root/tmp/svctrace.deb"
  chroot "$root" dpkg --install /tmp/svctrace.deb >/dev/null
  rm "$root/tmp/svctrace.deb" "$root/var/log/dpkg.log"
  tar -C "$root" -cf "$out" --sort=name "$@" .' install-on-base \
  "$tmp/root" "$base" "$deb" "$tmp/rootfs.tar" "${tarflags[@]}" ||
  { log "installing $(basename "$deb") on the base failed"; exit 1; }

log "OCI image svctrace:$version with umoci"
layout=$tmp/layout
image=$layout:svctrace-$version
umoci init --layout "$layout"
umoci new --image "$image"
umoci raw add-layer --image "$image" --history.created_by "scripts/image.sh: mmdebstrap $suite, dpkg --install $(basename "$deb")" "$tmp/rootfs.tar"
umoci config --image "$image" --config.entrypoint /usr/sbin/svctrace --config.workingdir / \
  --config.label "org.opencontainers.image.title=svctrace" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.base.name=debian:$suite (mmdebstrap --variant=essential)"
umoci gc --layout "$layout"
# umoci's tags cannot hold a ':'; the reference name can, and podman names what it loads by it.
jq --arg name "svctrace:$version" '.manifests[0].annotations["org.opencontainers.image.ref.name"] = $name' \
  "$layout/index.json" >"$tmp/index.json"
mv "$tmp/index.json" "$layout/index.json"
tar -C "$layout" -cf "$tmp/image.oci.tar" .
mv "$tmp/image.oci.tar" "$archive"
echo "$key" >"$out/key"

log "built: root filesystem $(du -m "$tmp/rootfs.tar" | cut -f1) MB," \
  "image archive (gzip layer) $(du -m "$archive" | cut -f1) MB"
echo "$archive"
