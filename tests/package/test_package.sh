#!/usr/bin/env bash
# The install rules and the .deb, from an already built tree (CTest runs it as `package`; no root
# needed): `cmake --install` and cpack into a temp dir, then the package is taken apart with dpkg-deb
# and dpkg -x, its binary run, its man page checked against that binary's --help, its Depends checked
# against the libraries the binary really links, and it is installed into a throwaway dpkg root whose
# package database is this Debian's, with and without one of its dependencies.
#
# Usage: test_package.sh BUILD_DIR
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/svctrace-package.XXXXXX)
ok=""
trap '[[ -n $ok ]] && rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL test_package: $*"
  echo "--- artifacts kept in $tmp"
  exit 1
}

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[[ -n $version ]] || fail "no project version in $build/CMakeCache.txt"

# --- cmake --install ------------------------------------------------------------------------------
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || fail "cmake --install failed: $(tail -5 "$tmp/install.log")"
for f in sbin/svctrace share/man/man8/svctrace.8.gz share/bash-completion/completions/svctrace; do
  [[ -s $tmp/prefix/$f ]] || fail "cmake --install did not install $f (installed: $(cd "$tmp/prefix" && find . -type f))"
done
[[ -x $tmp/prefix/sbin/svctrace ]] || fail "installed sbin/svctrace is not executable"

# --- cpack ------------------------------------------------------------------------------------------
(cd "$build" && cpack -G DEB -B "$tmp/out") >"$tmp/cpack.log" 2>&1 || fail "cpack failed: $(tail -5 "$tmp/cpack.log")"
debs=("$tmp"/out/svctrace_*.deb)
[[ ${#debs[@]} == 1 && -f ${debs[0]} ]] || fail "expected one svctrace_*.deb in $tmp/out, found: ${debs[*]}"
deb=${debs[0]}
[[ $(basename "$deb") == "svctrace_${version}_$(dpkg --print-architecture).deb" ]] || fail "package file name: $(basename "$deb")"

# Control fields.
[[ $(dpkg-deb -f "$deb" Package) == svctrace ]] || fail "Package field: $(dpkg-deb -f "$deb" Package)"
[[ $(dpkg-deb -f "$deb" Version) == "$version" ]] || fail "Version field: $(dpkg-deb -f "$deb" Version), expected $version"
depends=$(dpkg-deb -f "$deb" Depends)
declare -A declared=()
IFS=',' read -ra entries <<<"$depends"
for e in "${entries[@]}"; do
  e=${e# }
  declared[${e%% *}]=1
done
for want in libbpf1 libfmt9 libmnl0 libnetfilter-conntrack3 libc6 libstdc++6; do
  [[ -n ${declared[$want]:-} ]] || fail "Depends lacks $want: $depends"
done
# Every library the binary links directly is owned by a package the .deb depends on (by name, or
# by one of its Provides: libspdlog1.10 provides libspdlog1.10-fmt9).
mkdir "$tmp/root"
dpkg -x "$deb" "$tmp/root"
bin=$tmp/root/usr/sbin/svctrace
[[ -x $bin ]] || fail "dpkg -x: no executable usr/sbin/svctrace"
while read -r soname; do
  path=$(ldd "$bin" | awk -v so="$soname" '$1 == so {print $3}')
  [[ -n $path ]] || fail "ldd does not resolve $soname"
  owner=$({ dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null ||
    dpkg -S "${path#/usr}" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null; } | head -n 1 | cut -d: -f1)
  [[ -n $owner ]] || fail "no Debian package owns $path ($soname)"
  names=("$owner")
  provides=$(dpkg-query -W -f='${Provides}' "$owner" 2>/dev/null || true)
  IFS=',' read -ra provided <<<"$provides"
  for p in "${provided[@]}"; do
    p=${p# }
    names+=("${p%% *}")
  done
  found=""
  for n in "${names[@]}"; do [[ -n ${declared[$n]:-} ]] && found=1; done
  [[ -n $found ]] || fail "the binary links $soname (package $owner) but Depends does not name it: $depends"
done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')

# Files.
listing=$(dpkg-deb -c "$deb" | awk '{print $NF}')
for f in ./usr/sbin/svctrace ./usr/share/man/man8/svctrace.8.gz ./usr/share/bash-completion/completions/svctrace; do
  grep -qx -- "$f" <<<"$listing" || fail "the package lacks $f; it has: $(tr '\n' ' ' <<<"$listing")"
done
cmp -s "$tmp/root/usr/share/bash-completion/completions/svctrace" "$src/packaging/svctrace.bash" ||
  fail "the packaged completion is not packaging/svctrace.bash"
# The container image runs the binary where the package puts it.
entrypoint=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)".*/\1/p' "$src/deploy/Containerfile")
grep -qx -- ".$entrypoint" <<<"$listing" || fail "deploy/Containerfile's ENTRYPOINT '$entrypoint' is not a file of the package"

# The extracted binary runs.
out=$("$bin" --version) || fail "extracted svctrace --version exited $?"
[[ $out == "svctrace $version" ]] || fail "extracted svctrace --version printed '$out', expected 'svctrace $version'"

# The man page is the binary's --help: every flag and every exit status, rendered without warnings.
man=$tmp/svctrace.8
zcat "$tmp/root/usr/share/man/man8/svctrace.8.gz" >"$man"
grep -q '^\.TH SVCTRACE 8 ' "$man" || fail "man page has no .TH SVCTRACE 8 header"
help=$("$bin" --help)
all_help=$help
while read -r sub; do
  all_help+=$'\n'$("$bin" "$sub" --help)
done < <(sed -n '/^Subcommands:$/,/^[^ ]/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' <<<"$help")
flags=$(sed -n 's/^  \(-[^ ]*\).*/\1/p' <<<"$all_help" | tr ',' '\n' | sort -u)
[[ $(wc -l <<<"$flags") -ge 10 ]] || fail "found only $(wc -l <<<"$flags") flags in --help: $flags"
for flag in $flags; do
  grep -qF -- "\\fB${flag//-/\\-}\\fR" "$man" || fail "man page does not document $flag"
done
while read -r code text; do
  grep -A1 -xF "\\fB$code\\fR" "$man" | grep -qxF -- "${text//-/\\-}" || fail "man page lacks exit status $code: $text"
done < <(sed -n '/^Exit status:$/,/^$/s/^  \([0-9]\) *\(.*\)/\1 \2/p' <<<"$help")
[[ $(sed -n '/^Exit status:$/,/^$/p' <<<"$help" | grep -c '^  [0-9]') == 4 ]] || fail "--help does not list the 4 exit codes"
warnings=$(groff -man -ww -z "$man" 2>&1) || fail "groff cannot render the man page: $warnings"
[[ -z $warnings ]] || fail "groff warns about the man page: $warnings"

# Installed into a throwaway dpkg root that has this Debian's package database: its dependencies are
# satisfied by Debian's packages. Then the same without libbpf1: dpkg must refuse.
throwaway_root() {
  local root=$1
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
  touch "$root/var/lib/dpkg/available"
}
dpkg_root() { dpkg --root="$1" --force-not-root --force-script-chrootless --log=/dev/null -i "$deb"; }
throwaway_root "$tmp/dpkgroot"
cp /var/lib/dpkg/status "$tmp/dpkgroot/var/lib/dpkg/status"
dpkg_root "$tmp/dpkgroot" >"$tmp/dpkg-install.log" 2>&1 || fail "dpkg --root -i failed: $(grep -v 'files list file' "$tmp/dpkg-install.log" | tail -5)"
[[ $(dpkg-query --admindir="$tmp/dpkgroot/var/lib/dpkg" -W -f='${Status}' svctrace) == "install ok installed" ]] ||
  fail "svctrace is not 'install ok installed' in the throwaway root"
[[ -x $tmp/dpkgroot/usr/sbin/svctrace ]] || fail "dpkg --root -i did not put usr/sbin/svctrace in place"

throwaway_root "$tmp/nolibbpf"
awk 'BEGIN {RS = ""; ORS = "\n\n"} !/(^|\n)Package: libbpf1\n/' /var/lib/dpkg/status >"$tmp/nolibbpf/var/lib/dpkg/status"
if dpkg_root "$tmp/nolibbpf" >"$tmp/dpkg-nolibbpf.log" 2>&1; then
  fail "dpkg installed svctrace into a root without libbpf1: its Depends do not protect it"
fi
grep -q "depends on libbpf1" "$tmp/dpkg-nolibbpf.log" || fail "dpkg refused, but not for libbpf1: $(grep -v 'files list file' "$tmp/dpkg-nolibbpf.log" | tail -5)"

ok=1
echo "PASS test_package ($(basename "$deb"), Depends: $depends)"
