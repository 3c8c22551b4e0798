#!/usr/bin/env bash
# Regenerates the committed vmlinux.h for this machine's architecture from the running kernel's BTF.
# The BPF programs are CO-RE: field offsets are relocated at load time against the running kernel,
# so one committed header per architecture builds programs that load on every BTF kernel >= 5.8.
# Regenerate only to use types or fields that the committed header lacks.
set -euo pipefail
arch=$(uname -m)
out="$(dirname "$0")/../bpf/vmlinux/${arch}/vmlinux.h"
mkdir -p "$(dirname "$out")"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -l < "$out") lines, from kernel $(uname -r))"
