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
#include <deque>
#include <map>
#include <mutex>

#include "capture/nf_link.h"
#include "node/caps.h"
#include "capture/read_pause.h"
#include "svctrace_bpf.skel.h"

namespace svctrace {

namespace {

// The last lines libbpf printed, so that a refused load can say what the kernel objected to.
std::deque<std::string> g_libbpf_tail;
std::mutex g_libbpf_mu;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  // Verifier logs arrive as one long message: size the buffer to it.
  va_list copy;
  va_copy(copy, args);
  int len = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string line(len > 0 ? static_cast<size_t>(len) : 0, '\0');
  vsnprintf(line.data(), line.size() + 1, format, args);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  {
    std::lock_guard lock(g_libbpf_mu);
    g_libbpf_tail.push_back(line);
    if (g_libbpf_tail.size() > 50) g_libbpf_tail.pop_front();
  }
  if (level == LIBBPF_WARN)
    spdlog::debug("{}", line);  // warnings are expected while probing fallbacks
  else
    spdlog::trace("{}", line);
  return 0;
}

// The libbpf line that names the program the kernel refused, if any.
std::string refused_program_line() {
  std::lock_guard lock(g_libbpf_mu);
  for (auto it = g_libbpf_tail.rbegin(); it != g_libbpf_tail.rend(); ++it)
    if (it->find("prog '") != std::string::npos && it->find("failed to load") != std::string::npos) return *it;
  return {};
}

struct SkelDeleter {
  void operator()(svctrace_bpf* s) const { svctrace_bpf__destroy(s); }
};
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

using ProgramOf = bpf_program* (*)(svctrace_bpf*);

// One way of filling a role. Each role lists its candidates in order of preference; the first the
// kernel accepts is used, and a forced choice (--route-hook, --nat-hook) leaves only that one.
struct Candidate {
  const char* role;
  const char* option;
  const char* name;
  std::vector<ProgramOf> programs;
};

const std::vector<Candidate>& candidates() {
  static const std::vector<Candidate> all = {
      // fexit sees the lookup's full result; the tracepoint works where fentry/fexit are refused
      // (these machines, kernels without BPF trampolines); raw_tp where BTF-typed tracepoints are not.
      {"route", "fexit", "fexit/fib_table_lookup", {[](svctrace_bpf* s) { return s->progs.route_fexit; }}},
      {"route", "tp_btf", "tp_btf/fib_table_lookup", {[](svctrace_bpf* s) { return s->progs.route_tp_btf; }}},
      {"route", "raw_tp", "raw_tp/fib_table_lookup", {[](svctrace_bpf* s) { return s->progs.route_raw_tp; }}},
      // Netfilter links (6.4+) see NAT before and after re-routing and the replies; before 6.4, the
      // packet at the driver queue still carries its conntrack entry, but replies go unseen.
      {"nat", "netfilter", "netfilter ipv4 LOCAL_OUT -99, POST_ROUTING 101, PRE_ROUTING -99",
       {[](svctrace_bpf* s) { return s->progs.nat_local_out; },
        [](svctrace_bpf* s) { return s->progs.nat_post_routing; },
        [](svctrace_bpf* s) { return s->progs.nat_pre_routing; }}},
      {"nat", "net_dev_queue", "tp_btf/net_dev_queue", {[](svctrace_bpf* s) { return s->progs.nat_dev_queue; }}},
      // Optional roles: when the kernel refuses them, svctrace runs without (and says so). kfree_skb
      // has carried its drop reason since 5.17; older kernels lose the reply_dropped verdict.
      {"drop", "auto", "tp_btf/kfree_skb", {[](svctrace_bpf* s) { return s->progs.drop_kfree_skb; }}},
      {"drop", "auto", "none", {}},
      {"route6", "auto", "tp_btf/fib6_table_lookup", {[](svctrace_bpf* s) { return s->progs.route6_tp_btf; }}},
      {"route6", "auto", "none", {}},
  };
  return all;
}

// The name of the program libbpf last said it could not load.
std::string refused_program_name() {
  std::string line = refused_program_line();
  auto open = line.find("prog '");
  if (open == std::string::npos) return {};
  open += 6;
  auto close = line.find('\'', open);
  return close == std::string::npos ? std::string{} : line.substr(open, close - open);
}

std::string privilege_hint(int err, BpfUse use = BpfUse::Any) {
  return err == EPERM ? bpf_privilege_hint(effective_capabilities(), use) : "";
}

}  // namespace

void route_libbpf_log_to_spdlog() { libbpf_set_print(libbpf_print); }

struct Tracer::Impl {
  std::unique_ptr<svctrace_bpf, SkelDeleter> skel;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
  std::vector<Fd> nf_links;
  std::unique_ptr<ring_buffer, RingDeleter> ring;
  EventHandler on_event;
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

std::unique_ptr<Tracer> Tracer::start(const TracerOptions& opts, EventHandler on_event) {
  struct stat st {};
  if (stat("/sys/kernel/btf/vmlinux", &st) != 0)
    throw TracerError("this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing); svctrace needs a "
                      "kernel built with CONFIG_DEBUG_INFO_BTF=y (6.2 or later)");

  // IPv6 hooks cost every IPv6 packet a look: only attach them when an IPv6 CIDR is traced.
  const bool trace_v6 = std::any_of(opts.cidrs.begin(), opts.cidrs.end(),
                                    [](const Cidr& c) { return c.addr.family == AF_INET6; });
  std::vector<HookStatus> hooks;
  auto impl = std::make_unique<Impl>();
  impl->on_event = std::move(on_event);

  // Per role, the candidates still in the running, best first.
  std::map<std::string, std::vector<const Candidate*>> remaining;
  for (const auto& c : candidates()) {
    std::string role = c.role;
    const std::string forced = role == "route" ? opts.route_hook : role == "nat" ? opts.nat_hook : "auto";
    // No IPv6 CIDR: the IPv6 route hook is not wanted at all.
    if (role == "route6" && !trace_v6 && !c.programs.empty()) continue;
    if (forced == "auto" || forced == c.option) remaining[role].push_back(&c);
  }
  for (const char* role : {"route", "nat"})
    if (remaining[role].empty()) throw TracerError(fmt::format("no {} hook matches the one asked for", role));

  // Load with the best candidate of each role; when the kernel refuses a candidate's program, drop
  // that candidate, keep its refusal for the ready line, and load again.
  for (;;) {
    std::unique_ptr<svctrace_bpf, SkelDeleter> skel(svctrace_bpf__open());
    if (!skel) throw TracerError(fmt::format("cannot open the BPF object: {}", std::strerror(errno)));
    for (const auto& c : candidates()) {
      bool chosen = remaining[c.role].front() == &c;
      for (ProgramOf prog : c.programs) bpf_program__set_autoload(prog(skel.get()), chosen);
    }
    for (bpf_program* p : {skel->progs.nat_local_out, skel->progs.nat_post_routing, skel->progs.nat_pre_routing}) {
      bpf_program__set_type(p, static_cast<bpf_prog_type>(kProgTypeNetfilter));
      bpf_program__set_expected_attach_type(p, static_cast<bpf_attach_type>(kAttachNetfilter));
    }
    skel->rodata->target_netns = opts.netns_inode;
    set_inline_cidrs(skel.get(), opts.cidrs);
    // A wakeup when a sixteenth of the ring is waiting; otherwise poll()'s timeout collects them.
    skel->rodata->wakeup_bytes = opts.ringbuf_bytes / 16;
    bpf_map__set_max_entries(skel->maps.events, opts.ringbuf_bytes);
    impl->ring_bytes = opts.ringbuf_bytes;
    // A power of two of buckets, indexed by a mask.
    uint32_t buckets = std::bit_ceil(std::max<uint32_t>(opts.max_flows, SVC_AWAITING_WAYS)) / SVC_AWAITING_WAYS;
    bpf_map__set_max_entries(skel->maps.awaiting_reply, buckets);
    skel->rodata->bucket_mask = buckets - 1;

    int err = svctrace_bpf__load(skel.get());
    if (err == 0) {
      impl->skel = std::move(skel);
      break;
    }
    int e = -err;
    std::string refused = refused_program_name();
    const Candidate* culprit = nullptr;
    for (const auto& [role, list] : remaining)
      for (ProgramOf prog : list.front()->programs)
        if (refused == bpf_program__name(prog(skel.get()))) culprit = list.front();
    // What the refused program needed; a fallback is for what the kernel cannot do, not for a
    // capability the deployment forgot to grant.
    BpfUse use = BpfUse::Any;
    if (bpf_program* p = refused.empty() ? nullptr : bpf_object__find_program_by_name(skel->obj, refused.c_str()))
      use = bpf_program__type(p) == static_cast<bpf_prog_type>(kProgTypeNetfilter) ? BpfUse::Netfilter
                                                                                     : BpfUse::Tracing;
    bool missing_caps = e == EPERM && !missing_bpf_capabilities(effective_capabilities(), use).empty();
    if (!culprit || remaining[culprit->role].size() == 1 || missing_caps) {
      throw TracerError(fmt::format("the kernel refused svctrace's BPF program{}: {}{}",
                                    refused.empty() ? "s" : " " + refused, std::strerror(e), privilege_hint(e, use)));
    }
    spdlog::debug("{} hook {} refused: {}", culprit->role, culprit->name, std::strerror(e));
    hooks.push_back({culprit->role, culprit->name, false, std::strerror(e)});
    auto& list = remaining[culprit->role];
    list.erase(list.begin());
  }
  svctrace_bpf* skel = impl->skel.get();
  fill_cidrs(skel, opts.cidrs);

  auto attach = [&](const char* role, const char* name, bpf_program* prog) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int err = errno;
      throw TracerError(fmt::format("cannot attach {}: {}{}", name, std::strerror(err), privilege_hint(err)));
    }
    impl->links.emplace_back(link);
    hooks.push_back({role, name, true, ""});
  };
  const Candidate* route = remaining["route"].front();
  attach("route", route->name, route->programs[0](skel));
  for (const char* optional : {"route6", "drop"}) {
    const Candidate* c = remaining[optional].front();
    if (!c->programs.empty()) attach(c->role, c->name, c->programs[0](skel));
  }
  attach("tcp", "tp_btf/inet_sock_set_state", skel->progs.tcp_state);
  attach("tcp", "tp_btf/tcp_retransmit_skb", skel->progs.tcp_retransmit);

  const Candidate* nat = remaining["nat"].front();
  if (std::string(nat->option) != "netfilter") {
    attach("nat", nat->name, nat->programs[0](skel));
  } else {
    struct NfHook {
      const char* name;
      bpf_program* prog;
      uint32_t hooknum;
      int32_t priority;
      uint32_t pf = NFPROTO_IPV4;
    };
    // Right after DNAT (NF_IP_PRI_NAT_DST -100) on LOCAL_OUT and PRE_ROUTING, right after SNAT
    // (NF_IP_PRI_NAT_SRC 100) on POST_ROUTING.
    const NfHook nf_hooks[] = {
        {"netfilter ipv4 LOCAL_OUT prio -99", skel->progs.nat_local_out, NF_INET_LOCAL_OUT, -99},
        {"netfilter ipv4 POST_ROUTING prio 101", skel->progs.nat_post_routing, NF_INET_POST_ROUTING, 101},
        {"netfilter ipv4 PRE_ROUTING prio -99", skel->progs.nat_pre_routing, NF_INET_PRE_ROUTING, -99},
        // Same programs, IPv6 NAT priorities (NF_IP6_PRI_NAT_DST -100, NF_IP6_PRI_NAT_SRC 100).
        {"netfilter ipv6 LOCAL_OUT prio -99", skel->progs.nat_local_out, NF_INET_LOCAL_OUT, -99, NFPROTO_IPV6},
        {"netfilter ipv6 POST_ROUTING prio 101", skel->progs.nat_post_routing, NF_INET_POST_ROUTING, 101, NFPROTO_IPV6},
        {"netfilter ipv6 PRE_ROUTING prio -99", skel->progs.nat_pre_routing, NF_INET_PRE_ROUTING, -99, NFPROTO_IPV6},
    };
    // The kernel lets one BPF program hold each priority of a hook (EBUSY otherwise): a second svctrace
    // in the same namespace (a DaemonSet's and an engineer's) takes the next free one. Nothing else sits
    // between these priorities and the next hooks (filter at 0, conntrack helpers at 300).
    constexpr int kPrioritiesTried = 8;
    for (const auto& h : nf_hooks) {
      if (h.pf == NFPROTO_IPV6 && !trace_v6) continue;
      int fd = -EBUSY, priority = h.priority;
      for (int i = 0; i < kPrioritiesTried && fd == -EBUSY; i++) {
        priority = h.priority + i;
        fd = create_netfilter_link(bpf_program__fd(h.prog), h.pf, h.hooknum, priority);
      }
      if (fd == -EBUSY)
        throw TracerError(fmt::format("cannot attach {}: priorities {} to {} are all held by other BPF programs "
                                      "(other svctrace instances in this namespace? `bpftool link` lists them)",
                                      h.name, h.priority, priority));
      if (fd < 0)
        throw TracerError(fmt::format("cannot attach {}: {}{}", h.name, std::strerror(-fd), privilege_hint(-fd)));
      impl->nf_links.emplace_back(fd);
      std::string name = h.name;
      if (priority != h.priority) name.replace(name.rfind(' ') + 1, std::string::npos, std::to_string(priority));
      hooks.push_back({"nat", name, true, ""});
    }
  }

  auto on_record = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<Impl*>(ctx);
    if (size >= sizeof(svc_event)) self->on_event(*static_cast<const svc_event*>(data));
    return 0;
  };
  impl->ring.reset(ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, impl.get(), nullptr));
  if (!impl->ring) throw TracerError(fmt::format("cannot open the BPF ring buffer: {}", std::strerror(errno)));

  std::unique_ptr<Tracer> t(new Tracer(std::move(impl)));
  t->hooks_ = std::move(hooks);
  t->replies_seen_ = std::string(nat->option) == "netfilter";
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
  // (Summed per CPU while the programs run: a flow counted out on one CPU may not be counted in yet.)
  uint64_t out = c.awaiting_evicted + sum(SVC_CNT_AWAITING_REPLIED), in = sum(SVC_CNT_AWAITING_INSERTS);
  c.awaiting_size = in > out ? in - out : 0;
  return c;
}

std::unordered_map<uint32_t, std::string> load_drop_reason_names() {
  std::unordered_map<uint32_t, std::string> names;
  btf* vmlinux = btf__load_vmlinux_btf();
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
  btf__free(vmlinux);
  return names;
}

}  // namespace svctrace
