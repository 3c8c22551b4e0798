// What the running kernel lets svctrace load, asked before loading svctrace's own programs: for each
// kind of program a hook candidate needs, load the smallest such program (it returns at once) and
// close it. The loader then turns off the candidates the kernel refuses and loads the object once.
// Like libbpf-tools' fentry_can_attach() and bpftrace's BPFfeature, whose answers are cached too.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "capture/kernel_btf.h"

namespace svctrace {

// The kinds of BPF program svctrace's hooks are.
enum class ProgKind { fexit, tp_btf, raw_tp, netfilter };

constexpr std::string_view name(ProgKind kind) {
  switch (kind) {
    case ProgKind::fexit: return "fexit";
    case ProgKind::tp_btf: return "tp_btf";
    case ProgKind::raw_tp: return "raw_tp";
    case ProgKind::netfilter: return "netfilter";
  }
  return "?";
}

struct ProbeAnswer {
  int err = 0;         // 0: accepted; else the errno of the refusal
  std::string reason;  // why it was refused, for the user
  bool accepted() const { return err == 0; }
};

class FeatureProbe {
 public:
  // btf_file: the kernel's BTF from a file (--btf), or empty for the kernel's own.
  explicit FeatureProbe(std::string btf_file = {});
  ~FeatureProbe();
  FeatureProbe(const FeatureProbe&) = delete;
  FeatureProbe& operator=(const FeatureProbe&) = delete;

  // Whether the kernel loads a program of `kind` for `target`: the kernel function (fexit) or
  // tracepoint (tp_btf) it attaches to; raw_tp and netfilter programs name their target only when
  // attached, so for them it plays no part. Each question is put to the kernel once.
  const ProbeAnswer& accepts(ProgKind kind, const std::string& target);

  // Whether the kernel has the kfunc `name` (a BTF_KIND_FUNC of that name in vmlinux's BTF, as
  // libbpf resolves a __ksym extern). Asked once per name.
  const ProbeAnswer& has_kfunc(const std::string& name);

 private:
  btf* vmlinux_btf(ProbeAnswer& failure);
  ProbeAnswer load(ProgKind kind, const std::string& target);
  ProbeAnswer load_tracing(ProgKind kind, const std::string& target);
  std::map<std::pair<ProgKind, std::string>, ProbeAnswer> answers_;
  std::map<std::string, ProbeAnswer> kfuncs_;
  std::string btf_file_;
  BtfPtr vmlinux_;  // read at the first fexit, tp_btf or kfunc question
};

}  // namespace svctrace
