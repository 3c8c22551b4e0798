#include "capture/tracer.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <bit>
#include <cstdarg>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "capture/feature_probe.h"
#include "capture/held_flows.h"
#include "capture/kernel_btf.h"
#include "capture/nf_link.h"
#include "node/caps.h"
#include "capture/read_pause.h"
#include "svctrace_bpf.skel.h"

namespace svctrace {

namespace {

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  // Verifier logs arrive as one long message: size the buffer to it.
  va_list copy;
  va_copy(copy, args);
  int len = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string line(len > 0 ? static_cast<size_t>(len) : 0, '\0');
  vsnprintf(line.data(), line.size() + 1, format, args);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (level == LIBBPF_WARN)
    spdlog::debug("{}", line);  // a refused load says why here, shown with -v
  else
    spdlog::trace("{}", line);
  return 0;
}

struct SkelDeleter {
  void operator()(svctrace_bpf* s) const { svctrace_bpf__destroy(s); }
};
using SkelPtr = std::unique_ptr<svctrace_bpf, SkelDeleter>;
struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct RingDeleter {
  void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// The kfunc the programs read kernel objects through where the kernel has it (bpf/lib/base.bpf.h,
// kernel_view; 6.2+).
constexpr const char* kViewKfunc = "bpf_rdonly_cast";

// One of the object's programs, and what the kernel must accept to load it. A program that reads
// through kernel_view has a twin built from the same body with probe reads (bpf/svctrace.bpf.c, the
// _pr programs): one of the two is loaded, as the kernel has kViewKfunc or not.
struct Program {
  bpf_program* (*of)(svctrace_bpf*);
  ProgKind kind;
  const char* target;                                  // the function or tracepoint it attaches to
  bpf_program* (*probe_read)(svctrace_bpf*) = nullptr;  // its twin for kernels without kViewKfunc
  bool view_only = false;                              // reads through kernel_view and has no twin
  std::string hook_name() const { return fmt::format("{}/{}", name(kind), target); }
  // The program loaded for this hook: `view` is whether the kernel has kViewKfunc.
  bpf_program* loaded(svctrace_bpf* s, bool view) const { return !view && probe_read ? probe_read(s) : of(s); }
};

// One way of filling a role. Each role lists its candidates in order of preference; the first the
// kernel accepts is used, and a forced choice (--route-hook, --nat-hook) leaves only that one.
struct Candidate {
  HookRole role;
  const char* name;                          // as --hooks names it when refused
  std::vector<Program> programs;             // none: the role left out
  RouteHook route = RouteHook::automatic;    // the --route-hook that forces it
  NatHook nat = NatHook::automatic;          // the --nat-hook that forces it
  const char* note = nullptr;                // what it cannot see, for --hooks and the ready line
};

// The skeleton's program `field`, as a function of the skeleton (a capture-less lambda).
#define SVC_PROG(field) [](svctrace_bpf* s) { return s->progs.field; }

const std::vector<Candidate>& candidates() {
  using enum ProgKind;
  static const std::vector<Candidate> all = {
      // fexit sees the lookup's full result; the tracepoint works where fentry/fexit are refused
      // (these machines, kernels without BPF trampolines); raw_tp where BTF-typed tracepoints are not.
      // raw_tp has no probe-read twin: every kernel without bpf_rdonly_cast that svctrace runs on has
      // tp_btf.
      {HookRole::route, "fexit/fib_table_lookup",
       {{SVC_PROG(route_fexit), fexit, "fib_table_lookup", SVC_PROG(route_fexit_pr)}}, RouteHook::fexit},
      {HookRole::route, "tp_btf/fib_table_lookup",
       {{SVC_PROG(route_tp_btf), tp_btf, "fib_table_lookup", SVC_PROG(route_tp_btf_pr)}}, RouteHook::tp_btf},
      {HookRole::route, "raw_tp/fib_table_lookup",
       {{SVC_PROG(route_raw_tp), raw_tp, "fib_table_lookup", nullptr, true}}, RouteHook::raw_tp},
      // Netfilter links (6.4+) see NAT before and after re-routing and the replies; before 6.4, fexit
      // on the function that runs each netfilter hook sees the same where the kernel allows fexit;
      // else the packet at the driver queue still carries its conntrack entry, and replies are found
      // by their headers as they are received.
      {HookRole::nat, "netfilter ipv4 LOCAL_OUT -99, POST_ROUTING 101, PRE_ROUTING -99",
       {{SVC_PROG(nat_local_out), netfilter, "LOCAL_OUT"},
        {SVC_PROG(nat_post_routing), netfilter, "POST_ROUTING"},
        {SVC_PROG(nat_pre_routing), netfilter, "PRE_ROUTING"}},
       RouteHook::automatic, NatHook::netfilter},
      {HookRole::nat, "fexit/nf_hook_slow",
       {{SVC_PROG(nat_hook_slow), fexit, "nf_hook_slow"}},
       RouteHook::automatic, NatHook::fexit,
       "no BPF netfilter links before 6.4: NAT seen as each netfilter hook ends"},
      {HookRole::nat, "tp_btf/net_dev_queue, tp_btf/netif_receive_skb",
       {{SVC_PROG(nat_dev_queue), tp_btf, "net_dev_queue"}, {SVC_PROG(nat_receive), tp_btf, "netif_receive_skb"}},
       RouteHook::automatic, NatHook::net_dev_queue,
       "no BPF netfilter links before 6.4: a forwarded flow's route decision is not seen"},
      // Optional roles: when the kernel refuses them, svctrace runs without (and says so). kfree_skb
      // has carried its drop reason since 5.17; on older kernels the program reports reason 0.
      {HookRole::drop, "tp_btf/kfree_skb", {{SVC_PROG(drop_kfree_skb), tp_btf, "kfree_skb"}}},
      {HookRole::drop, "none", {}},
      {HookRole::route6, "tp_btf/fib6_table_lookup", {{SVC_PROG(route6_tp_btf), tp_btf, "fib6_table_lookup"}}},
      {HookRole::route6, "none", {}},
      {HookRole::tcp, "tp_btf/inet_sock_set_state, tp_btf/tcp_retransmit_skb",
       {{SVC_PROG(tcp_state), tp_btf, "inet_sock_set_state", SVC_PROG(tcp_state_pr)},
        {SVC_PROG(tcp_retransmit), tp_btf, "tcp_retransmit_skb", SVC_PROG(tcp_retrans_pr)}}},
  };
  return all;
}

// The candidate chosen for each role.
using Chosen = std::map<HookRole, const Candidate*>;

std::string privilege_hint(int err, BpfUse use = BpfUse::Any) {
  return err == EPERM ? bpf_privilege_hint(effective_capabilities(), use) : "";
}

BpfUse use_of(ProgKind kind) {
  switch (kind) {
    case ProgKind::fexit:
    case ProgKind::tp_btf:
    case ProgKind::raw_tp:
      return BpfUse::Tracing;
    case ProgKind::netfilter:
      return BpfUse::Netfilter;
  }
  return BpfUse::Any;
}

// Whether the command line lets `c` fill its role.
bool allowed(const Candidate& c, const TracerOptions& opts, bool trace_v6) {
  switch (c.role) {
    case HookRole::route:
      return opts.route_hook == RouteHook::automatic || opts.route_hook == c.route;
    case HookRole::nat:
      return opts.nat_hook == NatHook::automatic || opts.nat_hook == c.nat;
    case HookRole::route6:
      // No IPv6 CIDR: the IPv6 route hook is not wanted at all.
      return trace_v6 || c.programs.empty();
    case HookRole::drop:
    case HookRole::tcp:
      return true;
  }
  return false;
}

// The first of the candidate's programs the kernel would refuse, and why.
struct Refusal {
  const Program* program = nullptr;
  ProbeAnswer answer;
};
std::optional<Refusal> refusal(const Candidate& c, FeatureProbe& probe, bool view) {
  for (const Program& p : c.programs) {
    if (p.view_only && !view)
      return Refusal{&p, {ESRCH, fmt::format("needs the {} kfunc (6.2+), which the kernel lacks", kViewKfunc)}};
    if (const ProbeAnswer& a = probe.accepts(p.kind, p.target); !a.accepted()) return Refusal{&p, a};
  }
  return std::nullopt;
}

// Picks each role's candidate: the first the command line allows whose programs the kernel accepts.
// The refused ones before it go to `hooks`. A role left with none is an error, as is a refusal for a
// missing capability: a fallback is for what the kernel cannot do, not for a capability the
// deployment forgot to grant.
Chosen choose_hooks(const TracerOptions& opts, bool trace_v6, bool view, svctrace_bpf* skel, FeatureProbe& probe,
                    std::vector<HookStatus>& hooks) {
  std::map<HookRole, std::vector<const Candidate*>> allowed_by_role;
  for (const Candidate& c : candidates())
    if (allowed(c, opts, trace_v6)) allowed_by_role[c.role].push_back(&c);
  Chosen chosen;
  for (HookRole role : kHookRoles) {
    const auto& list = allowed_by_role[role];
    if (list.empty()) throw TracerError(fmt::format("no {} hook matches the one asked for", name(role)));
    for (const Candidate* c : list) {
      std::optional<Refusal> r = refusal(*c, probe, view);
      if (!r) {
        chosen[role] = c;
        break;
      }
      const int e = r->answer.err;
      const BpfUse use = use_of(r->program->kind);
      if (c == list.back() || (e == EPERM && !missing_bpf_capabilities(effective_capabilities(), use).empty()))
        throw TracerError(fmt::format("the kernel refused svctrace's BPF program {}: {}{}",
                                      bpf_program__name(r->program->loaded(skel, view)), r->answer.reason,
                                      privilege_hint(e, use)));
      spdlog::debug("{} hook {} refused: {}", name(role), c->name, r->answer.reason);
      hooks.push_back({role, c->name, false, r->answer.reason, ""});
    }
  }
  return chosen;
}

}  // namespace

void route_libbpf_log_to_spdlog() { libbpf_set_print(libbpf_print); }

struct Tracer::Impl {
  SkelPtr skel;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
  std::vector<Fd> nf_links;
  std::unique_ptr<ring_buffer, RingDeleter> ring;
  EventHandler on_event;
  PacketHandler on_packet;
  std::unique_ptr<HeldFlows> held;  // null when every flow is streamed
  uint64_t released_by_reader = 0;  // held flows release_stalled() released
  uint32_t ring_bytes = 0;
  // When the last read ended, how many records it delivered (they came in since the read before
  // ended), and when that one ended.
  std::chrono::steady_clock::time_point last_read_end, read_end_before;
  int last_delivered = 0;
};


Tracer::Tracer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// Members are destroyed in reverse order: the ring buffer, then links, then the object.
Tracer::~Tracer() = default;

// The CIDRs as the BPF side's constants, when few enough to be tested inline (it asks the trie,
// filled by fill_cidrs, otherwise). Network byte order: the bytes as they are.
static void set_inline_cidrs(svctrace_bpf* skel, const std::vector<Cidr>& cidrs) {
  auto mask_of = [](const Cidr& c, uint32_t* net, uint32_t* mask, size_t words) {
    uint8_t m[16] = {}, n[16] = {};
    for (size_t bit = 0; bit < c.prefix_len && bit < words * 32; bit++) m[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    for (size_t i = 0; i < words * 4; i++) n[i] = c.addr.bytes[i] & m[i];
    std::memcpy(mask, m, words * 4);
    std::memcpy(net, n, words * 4);
  };
  uint32_t n4 = 0, n6 = 0;
  for (const auto& c : cidrs) {
    if (c.addr.family == AF_INET6) {
      if (n6 < SVC_INLINE_V6) mask_of(c, skel->rodata->v6_net[n6], skel->rodata->v6_mask[n6], 4);
      n6++;
    } else {
      if (n4 < SVC_INLINE_V4) mask_of(c, &skel->rodata->v4_net[n4], &skel->rodata->v4_mask[n4], 1);
      n4++;
    }
  }
  skel->rodata->n_v4 = std::min<uint32_t>(n4, SVC_INLINE_V4 + 1);
  skel->rodata->n_v6 = std::min<uint32_t>(n6, SVC_INLINE_V6 + 1);
}

static void fill_cidrs(svctrace_bpf* skel, const std::vector<Cidr>& cidrs) {
  int fd = bpf_map__fd(skel->maps.service_cidrs);
  for (const auto& c : cidrs) {
    svc_cidr_key key{};
    uint8_t one = 1;
    if (c.addr.family == AF_INET6) {
      key.prefixlen = c.prefix_len;
      std::memcpy(key.addr, c.addr.bytes.data(), 16);
    } else {
      // IPv4 prefixes live in the IPv4-mapped range, as the BPF side looks them up.
      key.prefixlen = 96 + c.prefix_len;
      key.addr[10] = key.addr[11] = 0xff;
      std::memcpy(&key.addr[12], c.addr.bytes.data(), 4);
    }
    if (bpf_map_update_elem(fd, &key, &one, BPF_ANY) != 0)
      throw TracerError(fmt::format("cannot add CIDR {} to the kernel filter: {}", c.str(), std::strerror(errno)));
  }
}

namespace {

// The oldest kernel svctrace runs on, checked before anything is loaded so that the user reads what
// the kernel lacks rather than a loader's error: BTF of the running kernel (CO-RE and tp_btf), from
// the kernel or from --btf's file, and the BPF ring buffer (5.8, "bpf: Implement BPF ring buffer and
// verifier support for it").
void require_kernel_floor(const std::string& btf_file) {
  struct stat st {};
  if (!btf_file.empty()) {
    if (std::string error = kernel_btf_file_error(btf_file); !error.empty()) throw TracerError(error);
    // libbpf (1.1) resolves the hooks' targets and the kfuncs in the kernel's BTF as it finds it
    // itself, whatever the file: without it, loading would fail with a bare "No such process".
    if (!load_kernel_btf({}))
      throw TracerError(fmt::format("--btf {}: libbpf also needs the kernel's own BTF to attach the hooks and "
                                    "finds none (/sys/kernel/btf/vmlinux, /boot/vmlinux-RELEASE); mount the "
                                    "host's /sys/kernel/btf",
                                    btf_file));
  } else if (stat("/sys/kernel/btf/vmlinux", &st) != 0) {
    throw TracerError("this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing); svctrace needs a "
                      "kernel built with CONFIG_DEBUG_INFO_BTF=y, or its BTF given with --btf FILE");
  }
  // Asked of the kernel's BTF, not by creating a map, which needs the privileges whose absence the
  // load reports better: the ring buffer's own struct came with it.
  BtfPtr vmlinux = load_kernel_btf(btf_file);
  if (vmlinux && btf__find_by_name_kind(vmlinux.get(), "bpf_ringbuf", BTF_KIND_STRUCT) < 0)
    throw TracerError("this kernel has no BPF ring buffer; svctrace needs Linux 5.8 or later");
}

// btf_file: CO-RE relocates against it instead of the kernel's own BTF, when given.
SkelPtr open_object(const std::string& btf_file) {
  LIBBPF_OPTS(bpf_object_open_opts, open_opts);
  if (!btf_file.empty()) open_opts.btf_custom_path = btf_file.c_str();
  SkelPtr skel(svctrace_bpf__open_opts(&open_opts));
  if (!skel) throw TracerError(fmt::format("cannot open the BPF object: {}", std::strerror(errno)));
  for (bpf_program* p : {skel->progs.nat_local_out, skel->progs.nat_post_routing, skel->progs.nat_pre_routing}) {
    bpf_program__set_type(p, static_cast<bpf_prog_type>(kProgTypeNetfilter));
    bpf_program__set_expected_attach_type(p, static_cast<bpf_attach_type>(kAttachNetfilter));
  }
  return skel;
}

// Keys of the per-CPU counts of answered flows (a service, backend and egress device each): the map is
// preallocated, a value per CPU, so a node with many CPUs gets fewer, within 16 MiB. Flows of a key
// that finds the map full are streamed, as with --all-flows.
uint32_t service_count_keys() {
  const size_t per_key = sizeof(svc_service_counts) * static_cast<size_t>(std::max(1, libbpf_num_possible_cpus()));
  return static_cast<uint32_t>(std::clamp<size_t>((16u << 20) / per_key, 256, 4096));
}

bool holds_flows(const TracerOptions& opts, const Chosen& chosen) {
  auto nat = chosen.find(HookRole::nat);
  return !opts.all_flows && nat != chosen.end() && nat->second->nat != NatHook::net_dev_queue;
}

// Loads the chosen candidates' programs, and only them (of each twin, the one for `view`), with the
// options' constants and map sizes.
void load_object(svctrace_bpf* skel, const TracerOptions& opts, const Chosen& chosen, bool view) {
  for (const Candidate& c : candidates()) {
    auto it = chosen.find(c.role);
    const bool wanted = it != chosen.end() && it->second == &c;
    for (const Program& p : c.programs) {
      bpf_program__set_autoload(p.of(skel), false);
      if (p.probe_read) bpf_program__set_autoload(p.probe_read(skel), false);
      bpf_program__set_autoload(p.loaded(skel, view), wanted);
    }
  }
  skel->rodata->target_netns = opts.netns_inode;
  set_inline_cidrs(skel, opts.cidrs);
  // A wakeup when a sixteenth of the ring is waiting; otherwise poll()'s timeout collects them.
  skel->rodata->wakeup_bytes = opts.ringbuf_bytes / 16;
  bpf_map__set_max_entries(skel->maps.events, opts.ringbuf_bytes);
  // A power of two of buckets, indexed by a mask.
  const uint32_t buckets = std::bit_ceil(std::max<uint32_t>(opts.max_flows, SVC_AWAITING_WAYS)) / SVC_AWAITING_WAYS;
  bpf_map__set_max_entries(skel->maps.awaiting_reply, buckets);
  skel->rodata->bucket_mask = buckets - 1;
  // Healthy flows held in the kernel (held.bpf.h), --max-flows slots in one part per CPU; but not where
  // replies are seen only by their headers (the pre-6.4 fallback): there every flow is streamed.
  const bool hold = holds_flows(opts, chosen);
  const auto cpus = static_cast<uint32_t>(std::max(1, libbpf_num_possible_cpus()));
  const uint32_t held_per_cpu = (opts.max_flows + cpus - 1) / cpus;
  skel->rodata->every_flow = hold ? 0 : 1;
  skel->rodata->held_per_cpu = held_per_cpu;
  bpf_map__set_max_entries(skel->maps.held_flows, hold ? held_per_cpu * cpus : 1);
  bpf_map__set_max_entries(skel->maps.service_counts, hold ? service_count_keys() : 1);
  // --pcap: a held flow's first packet waits beside its records (packets.bpf.h).
  skel->rodata->capture_packets = opts.capture_packets ? 1 : 0;
  bpf_map__set_max_entries(skel->maps.held_packets, hold && opts.capture_packets ? held_per_cpu * cpus : 1);
  // The probes said the kernel takes each kind of program and whether it has the kfunc; what it can
  // still refuse is the programs themselves (the verifier), or the maps. -v shows libbpf's account.
  if (int err = svctrace_bpf__load(skel); err != 0)
    throw TracerError(fmt::format("the kernel refused svctrace's BPF programs: {}{}", std::strerror(-err),
                                  privilege_hint(-err)));
}

// Attaches the chosen candidates' tracing programs (every role's but a netfilter NAT hook's).
using Links = std::vector<std::unique_ptr<bpf_link, LinkDeleter>>;
void attach_tracing(svctrace_bpf* skel, const Chosen& chosen, bool view, Links& links,
                    std::vector<HookStatus>& hooks) {
  for (HookRole role : {HookRole::route, HookRole::route6, HookRole::drop, HookRole::tcp, HookRole::nat}) {
    const Candidate& c = *chosen.at(role);
    for (const Program& p : c.programs) {
      if (p.kind == ProgKind::netfilter) continue;  // attach_netfilter's
      bpf_link* link = bpf_program__attach(p.loaded(skel, view));
      if (!link) {
        int err = errno;
        throw TracerError(
            fmt::format("cannot attach {}: {}{}", p.hook_name(), std::strerror(err), privilege_hint(err)));
      }
      links.emplace_back(link);
      std::string note = c.note ? c.note : "";
      if (!view && p.probe_read)
        note += fmt::format("{}probe reads: the kernel has no {}", note.empty() ? "" : "; ", kViewKfunc);
      hooks.push_back({role, p.hook_name(), true, "", note});
    }
  }
}

struct NfHook {
  const char* name;
  bpf_program* (*prog)(svctrace_bpf*);
  uint32_t hooknum;
  int32_t priority;
  uint32_t pf = NFPROTO_IPV4;
};

// Right after DNAT (NF_IP_PRI_NAT_DST -100) on LOCAL_OUT and PRE_ROUTING, right after SNAT
// (NF_IP_PRI_NAT_SRC 100) on POST_ROUTING.
const NfHook kNfHooks[] = {
    {"netfilter ipv4 LOCAL_OUT prio -99", SVC_PROG(nat_local_out), NF_INET_LOCAL_OUT, -99},
    {"netfilter ipv4 POST_ROUTING prio 101", SVC_PROG(nat_post_routing), NF_INET_POST_ROUTING, 101},
    {"netfilter ipv4 PRE_ROUTING prio -99", SVC_PROG(nat_pre_routing), NF_INET_PRE_ROUTING, -99},
    // Same programs, IPv6 NAT priorities (NF_IP6_PRI_NAT_DST -100, NF_IP6_PRI_NAT_SRC 100).
    {"netfilter ipv6 LOCAL_OUT prio -99", SVC_PROG(nat_local_out), NF_INET_LOCAL_OUT, -99, NFPROTO_IPV6},
    {"netfilter ipv6 POST_ROUTING prio 101", SVC_PROG(nat_post_routing), NF_INET_POST_ROUTING, 101, NFPROTO_IPV6},
    {"netfilter ipv6 PRE_ROUTING prio -99", SVC_PROG(nat_pre_routing), NF_INET_PRE_ROUTING, -99, NFPROTO_IPV6},
};
#undef SVC_PROG

// Links one netfilter hook at its priority or the next free one: the kernel lets one BPF program
// hold each priority of a hook (EBUSY otherwise), so a second svctrace in the same namespace (a
// DaemonSet's and an engineer's) takes the next. Nothing else sits between these priorities and the
// next hooks (filter at 0, conntrack helpers at 300). Returns the link and the hook's name as linked.
std::pair<Fd, std::string> link_netfilter(svctrace_bpf* skel, const NfHook& h) {
  constexpr int kPrioritiesTried = 8;
  int fd = -EBUSY, priority = h.priority;
  for (int i = 0; i < kPrioritiesTried && fd == -EBUSY; i++) {
    priority = h.priority + i;
    fd = create_netfilter_link(bpf_program__fd(h.prog(skel)), h.pf, h.hooknum, priority);
  }
  if (fd == -EBUSY)
    throw TracerError(fmt::format("cannot attach {}: priorities {} to {} are all held by other BPF programs "
                                  "(other svctrace instances in this namespace? `bpftool link` lists them)",
                                  h.name, h.priority, priority));
  if (fd < 0) throw TracerError(fmt::format("cannot attach {}: {}{}", h.name, std::strerror(-fd), privilege_hint(-fd)));
  std::string name = h.name;
  if (priority != h.priority) name.replace(name.rfind(' ') + 1, std::string::npos, std::to_string(priority));
  return {Fd(fd), name};
}

}  // namespace

std::unique_ptr<Tracer> Tracer::start(const TracerOptions& opts, EventHandler on_event, PacketHandler on_packet) {
  require_kernel_floor(opts.btf_file);
  // IPv6 hooks cost every IPv6 packet a look: only attach them when an IPv6 CIDR is traced.
  const bool trace_v6 = std::any_of(opts.cidrs.begin(), opts.cidrs.end(),
                                    [](const Cidr& c) { return c.addr.family == AF_INET6; });
  auto impl = std::make_unique<Impl>();
  impl->on_event = std::move(on_event);
  impl->on_packet = on_packet ? std::move(on_packet) : [](const svc_packet&) {};
  impl->ring_bytes = opts.ringbuf_bytes;
  impl->skel = open_object(opts.btf_file);
  svctrace_bpf* skel = impl->skel.get();

  // Ask the kernel which candidates it takes, then load the object once with only those.
  std::vector<HookStatus> hooks;
  FeatureProbe probe(opts.btf_file);
  const ProbeAnswer& kfunc = probe.has_kfunc(kViewKfunc);
  const bool view = kfunc.accepted();
  if (!view) spdlog::debug("{}; loading the probe-read programs", kfunc.reason);
  const Chosen chosen = choose_hooks(opts, trace_v6, view, skel, probe, hooks);
  load_object(skel, opts, chosen, view);
  fill_cidrs(skel, opts.cidrs);

  attach_tracing(skel, chosen, view, impl->links, hooks);
  const bool netfilter = chosen.at(HookRole::nat)->nat == NatHook::netfilter;
  for (const NfHook& h : kNfHooks) {
    if (!netfilter || (h.pf == NFPROTO_IPV6 && !trace_v6)) continue;
    auto [fd, name] = link_netfilter(skel, h);
    impl->nf_links.push_back(std::move(fd));
    hooks.push_back({HookRole::nat, name, true, "", ""});
  }

  auto on_record = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<Impl*>(ctx);
    if (size >= sizeof(svc_packet) && static_cast<const svc_packet*>(data)->kind == SVC_EV_PACKET)
      self->on_packet(*static_cast<const svc_packet*>(data));
    else if (size >= sizeof(svc_event))
      self->on_event(*static_cast<const svc_event*>(data));
    return 0;
  };
  impl->ring.reset(ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, impl.get(), nullptr));
  if (!impl->ring) throw TracerError(fmt::format("cannot open the BPF ring buffer: {}", std::strerror(errno)));
  if (holds_flows(opts, chosen)) {
    try {
      impl->held = std::make_unique<HeldFlows>(skel->maps.awaiting_reply, skel->maps.held_flows,
                                               skel->maps.service_counts,
                                               opts.capture_packets ? skel->maps.held_packets : nullptr);
    } catch (const std::runtime_error& e) {
      throw TracerError(e.what());
    }
  }

  std::unique_ptr<Tracer> t(new Tracer(std::move(impl)));
  t->hooks_ = std::move(hooks);
  return t;
}

// The kernel side wakes a reader that waits on an empty ring only when records fill a sixteenth of
// it (wakeup_bytes): after the wait, read whatever is there, woken or not.
// But the ring is readable while a single record waits in it, so under steady traffic a wait ends at
// once, and the reader would go round for every few records, its work per round (a tick, the
// counters, a write) costing more than the records: at bench.sh's connection load svctrace was
// preempted ~5000 times a second and slept 51 times in 8 s. So a read that delivered records is
// followed by a pause of up to kReadInterval, as long as the records arriving meanwhile, at the rate
// the last read found them, fill at most a quarter of the ring (a small --ringbuf-size gets short
// pauses, not losses). A signal ends the pause (no SA_RESTART).
int Tracer::poll(int timeout_ms) {
  using namespace std::chrono;
  constexpr auto kReadInterval = nanoseconds(milliseconds(10));
  Impl& d = *impl_;
  auto cap = timeout_ms < 0 ? kReadInterval : std::min(kReadInterval, nanoseconds(milliseconds(timeout_ms)));
  auto pause = read_pause(d.last_delivered, d.last_read_end - d.read_end_before, d.ring_bytes,
                          sizeof(svc_event) + BPF_RINGBUF_HDR_SZ, cap);
  if (auto left = d.last_read_end + pause - steady_clock::now(); left.count() > 0) {
    timespec ts{0, static_cast<long>(left.count())};  // under 10 ms
    nanosleep(&ts, nullptr);
    timeout_ms = 0;  // the pause was the wait
  }
  int n = ring_buffer__poll(d.ring.get(), timeout_ms);
  if (n < 0) return n;
  int more = ring_buffer__consume(d.ring.get());
  if (more < 0) return more;
  d.read_end_before = d.last_read_end;
  d.last_read_end = steady_clock::now();
  d.last_delivered = n + more;
  return n + more;
}

size_t Tracer::release_stalled(uint64_t now_ns, uint64_t age_ns) {
  size_t n = impl_->held ? impl_->held->release_stalled(now_ns, age_ns, impl_->on_event, impl_->on_packet) : 0;
  impl_->released_by_reader += n;
  return n;
}

std::vector<ServiceCount> Tracer::counted_since_last() {
  return impl_->held ? impl_->held->counted_since_last() : std::vector<ServiceCount>{};
}

Tracer::Counters Tracer::counters() {
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(ncpu > 0 ? ncpu : 1);
  auto sum = [&](uint32_t idx) {
    uint64_t total = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.counters), &idx, per_cpu.data()) == 0)
      for (auto v : per_cpu) total += v;
    return total;
  };
  Counters c{sum(SVC_CNT_EVENTS), sum(SVC_CNT_RINGBUF_DROPS)};
  c.awaiting_capacity = uint64_t{SVC_AWAITING_WAYS} * bpf_map__max_entries(impl_->skel->maps.awaiting_reply);
  c.awaiting_evicted = sum(SVC_CNT_AWAITING_EVICTED);
  c.conn_unreadable = sum(SVC_CNT_CONN_UNREADABLE);
  c.packet_drops = sum(SVC_CNT_PACKET_DROPS);
  c.held_released = sum(SVC_CNT_HELD_RELEASED) + impl_->released_by_reader;
  // (Summed per CPU while the programs run: a flow counted out on one CPU may not be counted in yet.)
  uint64_t out = c.awaiting_evicted + sum(SVC_CNT_AWAITING_REPLIED), in = sum(SVC_CNT_AWAITING_INSERTS);
  c.awaiting_size = in > out ? in - out : 0;
  return c;
}

std::unordered_map<uint32_t, std::string> load_drop_reason_names(const std::string& btf_file) {
  std::unordered_map<uint32_t, std::string> names;
  BtfPtr kernel_btf = load_kernel_btf(btf_file);
  btf* vmlinux = kernel_btf.get();
  if (!vmlinux) return names;
  int id = btf__find_by_name_kind(vmlinux, "skb_drop_reason", BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(vmlinux, id);
    const struct btf_enum* values = btf_enum(t);
    const std::string prefix = "SKB_DROP_REASON_";
    for (int i = 0; i < btf_vlen(t); i++) {
      std::string name = btf__name_by_offset(vmlinux, values[i].name_off);
      if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
      names[static_cast<uint32_t>(values[i].val)] = name;
    }
  }
  return names;
}

}  // namespace svctrace
