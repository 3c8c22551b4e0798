/* Dispatches to the committed, per-architecture vmlinux.h (see scripts/gen-vmlinux.sh). */
#pragma once
#if defined(__TARGET_ARCH_x86)
#include "vmlinux/x86_64/vmlinux.h"
#else
#error "no committed vmlinux.h for this architecture: run scripts/gen-vmlinux.sh on it"
#endif
