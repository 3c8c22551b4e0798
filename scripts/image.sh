#!/usr/bin/env bash
# Builds svctrace's container image from Debian's packages and nothing else (no registry, no base
# image): cpack's .deb of BUILD_DIR, installed with its Depends and its Recommends (iptables and
# nftables, which svctrace runs to read the NAT rules) on Debian's essential set, by mmdebstrap from the
# mirror and release this machine's apt uses; then that root filesystem as the one layer of an OCI
# image, by umoci. No other recommends, no apt (and so no package lists), no docs, man pages or locales
# (dpkg path-exclude; the copyright files stay). Needs root and `scripts/install-deps.sh --image`.
#
# Usage: scripts/image.sh [BUILD_DIR]          (default: build)
# Writes BUILD_DIR/image/svctrace-VERSION.oci.tar, an OCI image archive naming svctrace:VERSION
# (`podman load -i FILE`; `skopeo copy oci-archive:FILE docker://REGISTRY/svctrace:VERSION`).
#
# The archive is reused while its key (image/key: the package's files and control fields, this
# script, the Debian sources and release) is unchanged and it is less than a day old, so a rebuilt
# binary always gets a new image and a day-old image takes Debian's updates. Remove BUILD_DIR/image to
# force a rebuild.
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
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:?}")
sources=${IMAGE_SOURCES:-/etc/apt/sources.list.d/debian.sources}
[[ -f $sources ]] || sources=/etc/apt/sources.list
[[ -f $sources ]] || { echo "image: no Debian apt sources at $sources (set IMAGE_SOURCES)" >&2; exit 1; }

started=$SECONDS
log() { echo "image: [$((SECONDS - started)) s] $*" >&2; }
mkdir -p "$out"
tmp=$(mktemp -d "$out/tmp.XXXXXX")
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

# mmdebstrap extracts and configures ~80 packages, dpkg fsyncing each file: on a tmpfs of a private
# mount namespace that costs nothing and vanishes with it, whatever ends the build.
recommends=$(dpkg-deb -f "$deb" Recommends | tr -d ' ')
log "root filesystem: Debian $suite's essential set, $(basename "$deb") and its Recommends ($recommends)"
excludes=()
for dir in doc man info locale; do excludes+=(--dpkgopt="path-exclude=/usr/share/$dir/*"); done
excludes+=(--dpkgopt='path-include=/usr/share/doc/*/copyright')
mkdir "$tmp/scratch"
unshare --mount --propagation private env TMPDIR="$tmp/scratch" \
  sh -c 'mount -t tmpfs -o size=2g tmpfs "$TMPDIR" && exec "$@"' mmdebstrap-on-tmpfs \
  mmdebstrap --variant=essential --format=tar \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
  --include="$deb" --include="$recommends" "${excludes[@]}" \
  "$suite" "$tmp/rootfs.tar" "$sources" ||
  { log "mmdebstrap failed"; exit 1; }

log "OCI image svctrace:$version with umoci"
layout=$tmp/layout
image=$layout:svctrace-$version
umoci init --layout "$layout"
umoci new --image "$image"
umoci raw add-layer --image "$image" --history.created_by "scripts/image.sh: mmdebstrap $suite" "$tmp/rootfs.tar"
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
