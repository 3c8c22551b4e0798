#include "capture/feature_probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "capture/nf_link.h"

namespace svctrace {

namespace {

// `r0 = ret; exit`: all a probe program does.
std::vector<bpf_insn> return_insns(int32_t ret) {
  bpf_insn mov{};
  mov.code = BPF_ALU64 | BPF_MOV | BPF_K;
  mov.imm = ret;
  bpf_insn exit{};
  exit.code = BPF_JMP | BPF_EXIT;
  return {mov, exit};
}

ProbeAnswer load_program(bpf_prog_type type, const bpf_prog_load_opts& opts, int32_t ret) {
  std::vector<bpf_insn> insns = return_insns(ret);
  int fd = bpf_prog_load(type, "svctrace_probe", "GPL", insns.data(), insns.size(), &opts);
  if (fd >= 0) {
    close(fd);
    return {};
  }
  int err = fd == -1 ? errno : -fd;  // libbpf 1.x returns -errno
  return {err, std::strerror(err)};
}

}  // namespace

FeatureProbe::FeatureProbe(std::string btf_file) : btf_file_(std::move(btf_file)) {}
FeatureProbe::~FeatureProbe() = default;

const ProbeAnswer& FeatureProbe::accepts(ProgKind kind, const std::string& target) {
  // raw_tp and netfilter programs are loaded without their target: one question for all of them.
  const bool targeted = kind == ProgKind::fexit || kind == ProgKind::tp_btf;
  auto key = std::make_pair(kind, targeted ? target : std::string());
  auto it = answers_.find(key);
  if (it == answers_.end()) it = answers_.emplace(key, load(kind, target)).first;
  return it->second;
}

ProbeAnswer FeatureProbe::load(ProgKind kind, const std::string& target) {
  LIBBPF_OPTS(bpf_prog_load_opts, opts);
  switch (kind) {
    case ProgKind::fexit:
    case ProgKind::tp_btf:
      return load_tracing(kind, target);
    case ProgKind::raw_tp:
      return load_program(BPF_PROG_TYPE_RAW_TRACEPOINT, opts, 0);
    case ProgKind::netfilter:
      // A netfilter program returns a verdict: NF_ACCEPT (1).
      opts.expected_attach_type = static_cast<bpf_attach_type>(kAttachNetfilter);
      return load_program(static_cast<bpf_prog_type>(kProgTypeNetfilter), opts, 1);
  }
  return {EINVAL, std::strerror(EINVAL)};
}

btf* FeatureProbe::vmlinux_btf(ProbeAnswer& failure) {
  if (!vmlinux_) vmlinux_ = load_kernel_btf(btf_file_);
  if (!vmlinux_) {
    int err = errno;
    failure = {err, fmt::format("cannot read the kernel's BTF: {}", std::strerror(err))};
  }
  return vmlinux_.get();
}

const ProbeAnswer& FeatureProbe::has_kfunc(const std::string& name) {
  auto it = kfuncs_.find(name);
  if (it != kfuncs_.end()) return it->second;
  ProbeAnswer answer;
  if (btf* vmlinux = vmlinux_btf(answer);
      vmlinux && btf__find_by_name_kind(vmlinux, name.c_str(), BTF_KIND_FUNC) <= 0)
    answer = {ESRCH, fmt::format("the kernel has no kfunc {}", name)};
  return kfuncs_.emplace(name, answer).first->second;
}

// fexit and tp_btf programs name their target by its BTF id in vmlinux, as libbpf does: the function,
// or the tracepoint's btf_trace_<name> typedef.
ProbeAnswer FeatureProbe::load_tracing(ProgKind kind, const std::string& target) {
  ProbeAnswer failure;
  if (!vmlinux_btf(failure)) return failure;
  const bool fexit = kind == ProgKind::fexit;
  std::string btf_name = fexit ? target : "btf_trace_" + target;
  int id = btf__find_by_name_kind(vmlinux_.get(), btf_name.c_str(), fexit ? BTF_KIND_FUNC : BTF_KIND_TYPEDEF);
  if (id <= 0) return {ESRCH, fmt::format("the kernel has no {} {}", fexit ? "function" : "tracepoint", target)};
  LIBBPF_OPTS(bpf_prog_load_opts, opts);
  opts.expected_attach_type = fexit ? BPF_TRACE_FEXIT : BPF_TRACE_RAW_TP;
  opts.attach_btf_id = static_cast<uint32_t>(id);
  return load_program(BPF_PROG_TYPE_TRACING, opts, 0);
}

}  // namespace svctrace
