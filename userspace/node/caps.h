// The capabilities svctrace needs, and which of them the process lacks, so that a refusal by the
// kernel (EPERM) can name what to grant instead of saying "run as root".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace svctrace {

// The calling thread's effective capability set (capget(2)): bit N is capability N.
uint64_t effective_capabilities();

// What the kernel checks for loading and attaching svctrace's BPF programs: CAP_BPF for maps and
// every program, plus CAP_PERFMON for tracing programs (tp_btf, fexit, raw_tp) and CAP_NET_ADMIN for
// netfilter programs. CAP_SYS_ADMIN stands in for each (bpf_capable(), perfmon_capable(),
// bpf_net_capable()). Any: all of them, when what was refused is not known.
enum class BpfUse { Any, Tracing, Netfilter };

// The capabilities `use` needs that `effective` lacks, named, in the order CAP_BPF, CAP_PERFMON,
// CAP_NET_ADMIN.
std::vector<std::string> missing_bpf_capabilities(uint64_t effective, BpfUse use = BpfUse::Any);

// The text appended to an EPERM from bpf(2): names what `effective` lacks for `use`, or, when nothing
// is missing, says that something other than capabilities refused it.
std::string bpf_privilege_hint(uint64_t effective, BpfUse use = BpfUse::Any);

// Whether capability `cap` (CAP_* from <linux/capability.h>) is in `effective`.
bool has_capability(uint64_t effective, int cap);

}  // namespace svctrace
