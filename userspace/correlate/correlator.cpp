#include "correlate/correlator.h"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace svctrace {

namespace {
constexpr int kTcpEstablished = 1;  // TCP_ESTABLISHED
constexpr int kTcpClose = 7;        // TCP_CLOSE
constexpr uint32_t kCtNew = 2;      // IP_CT_NEW: a packet of a conntrack entry that has seen no reply
constexpr uint32_t kCtEstablishedReply = 3;  // IP_CT_ESTABLISHED_REPLY: a packet of the reply direction
constexpr uint32_t kCtRelatedReply = 4;      // IP_CT_RELATED_REPLY: an ICMP error about the flow
constexpr size_t kMaxRouteMemory = 4096;

bool is_reply_direction(uint32_t ctinfo) { return ctinfo == kCtEstablishedReply || ctinfo == kCtRelatedReply; }

void note_time(std::vector<uint64_t>& times, uint64_t ts) {
  if (times.size() < kMaxFlowTimes) times.push_back(ts);
}

// Key under which the latest route decision for a service IP is remembered.
FlowKey dst_only(uint32_t netns, const IpAddr& dst) {
  FlowKey k;
  k.netns = netns;
  k.dst = dst;
  return k;
}
}  // namespace

FlowKey FlowKey::from_tuple(uint32_t netns, const svc_tuple& t) {
  FlowKey k;
  k.netns = netns;
  k.proto = t.proto;
  k.src = IpAddr::from_bytes(t.family, t.src);
  k.dst = IpAddr::from_bytes(t.family, t.dst);
  k.sport = t.sport;
  k.dport = t.dport;
  return k;
}

size_t FlowKeyHash::operator()(const FlowKey& k) const {
  // FNV-1a over the fields that vary; cheap and good enough for a table of flows.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* p, size_t n) {
    auto b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  };
  mix(&k.netns, sizeof k.netns);
  mix(&k.proto, 1);
  mix(k.src.bytes.data(), k.src.size());
  mix(k.dst.bytes.data(), k.dst.size());
  mix(&k.sport, 2);
  mix(&k.dport, 2);
  return h;
}

const char* to_string(FlowState s) {
  switch (s) {
    case FlowState::Pending: return "pending";
    case FlowState::Answered: return "answered";
    case FlowState::Refused: return "refused";
    case FlowState::Unanswered: return "unanswered";
    case FlowState::Abandoned: return "abandoned";
  }
  return "?";
}

void Correlator::on_event(const svc_event& ev) {
  events_++;
  switch (ev.kind) {
    case SVC_EV_ROUTE: on_route(ev); break;
    case SVC_EV_NAT: on_nat(ev); break;
    case SVC_EV_TCP_STATE:
    case SVC_EV_TCP_RETRANS: on_tcp(ev); break;
    case SVC_EV_REPLY: on_reply(ev); break;
    case SVC_EV_DROP: on_drop(ev); break;
    case SVC_EV_REPLY_ROUTE: on_reply_route(ev); break;
    default: break;
  }
}

void Correlator::add_existing(const FlowKey& key, std::optional<IpAddr> dnat_ip, uint16_t dnat_port,
                              std::optional<IpAddr> snat_ip, uint16_t snat_port, bool replied, uint64_t now_ns) {
  Flow& f = flow_for(key, now_ns);
  f.preexisting = true;
  f.nat_seen = true;
  f.dnat_ip = dnat_ip;
  f.dnat_port = dnat_port;
  f.snat_ip = snat_ip;
  f.snat_port = snat_port;
  announce(f);
  // Conntrack's word decides it, at once: a reply seen, or none. svctrace did not see it start, so
  // it does not time it; a packet of it seen from now on says it is still failing (on_tcp).
  decide(f, replied ? FlowState::Answered : FlowState::Unanswered, now_ns);
}

void Correlator::on_route(const svc_event& ev) {
  if (cfg_.self_pid && ev.pid == cfg_.self_pid) return;  // our own diagnosis lookups
  RouteDecision d;
  d.ts_ns = ev.ts_ns;
  d.table = ev.route.table;
  d.oif = ev.route.oif;
  d.mark = ev.route.mark;
  uint8_t fam = ev.tuple.family;
  if (ev.route.gw_family) d.gateway = IpAddr::from_bytes(ev.route.gw_family, ev.route.gw);
  d.prefsrc = IpAddr::from_bytes(fam, ev.route.prefsrc);
  if (d.prefsrc.is_zero()) d.prefsrc = {};
  d.nh_saddr = IpAddr::from_bytes(fam, ev.route.nh_saddr);
  if (d.nh_saddr.is_zero()) d.nh_saddr = {};
  auto key = FlowKey::from_tuple(ev.netns, ev.tuple);
  if (!key.src.is_zero()) d.flow_src = key.src;

  if (routes_by_dst_.size() >= kMaxRouteMemory) routes_by_dst_.clear();
  routes_by_dst_[dst_only(ev.netns, key.dst)] = d;
  pending_owner_[dst_only(ev.netns, key.dst)] = {ev.pid, std::string(ev.comm, strnlen(ev.comm, sizeof ev.comm))};
  if (pending_owner_.size() >= kMaxRouteMemory) pending_owner_.clear();

  // connect() looks the route up again once the source port is chosen: that lookup names the flow
  // exactly, so concurrent connects to one service are told apart.
  if (!key.src.is_zero() && key.sport) {
    if (auto it = flows_.find(key); it != flows_.end() && !it->second.over()) {
      it->second.route = d;
    } else {
      if (exact_.size() >= kMaxRouteMemory) exact_.clear();
      exact_[key] = {d, {ev.pid, std::string(ev.comm, strnlen(ev.comm, sizeof ev.comm))}};
    }
  }
}

Flow* Correlator::live(const FlowRef& r) {
  auto it = flows_.find(r.key);
  return it != flows_.end() && it->second.first_seen_ns == r.first_seen_ns ? &it->second : nullptr;
}

const Flow* Correlator::live(const FlowRef& r) const { return const_cast<Correlator*>(this)->live(r); }

Flow& Correlator::flow_for(const FlowKey& k, uint64_t ts, bool new_conntrack_entry) {
  auto [it, fresh] = flows_.try_emplace(k);  // one lookup for a known flow and for a new one
  if (!fresh) {
    Flow& old = it->second;
    // (An event from before the flow was over is its own, read late: a flow found in the conntrack
    // table at start is decided at that moment, and the ring may still hold its first packet.)
    if (!new_conntrack_entry || !old.over() || ts <= std::max(old.decided_ns, old.reply_ns)) return old;
    retire(old);
    old = Flow{};  // another connection on a finished flow's tuple takes its place
  } else if (flows_.size() > cfg_.max_flows) {
    evict_for_room();  // not this one: it is not in order_ yet (erasing another keeps `it` valid)
  }
  Flow& f = it->second;
  f.key = k;
  f.first_seen_ns = ts;
  auto dk = dst_only(k.netns, k.dst);
  // (Each find hashes the key first, even in an empty map: a flood's flows have no route events.)
  if (auto e = exact_.empty() ? exact_.end() : exact_.find(k); e != exact_.end()) {
    f.route = e->second.first;
    f.pid = e->second.second.pid;
    f.comm = e->second.second.comm;
    exact_.erase(e);
  } else {
    if (auto r = routes_by_dst_.empty() ? routes_by_dst_.end() : routes_by_dst_.find(dk); r != routes_by_dst_.end())
      f.route = r->second;
    if (auto o = pending_owner_.empty() ? pending_owner_.end() : pending_owner_.find(dk); o != pending_owner_.end()) {
      f.pid = o->second.pid;
      f.comm = o->second.comm;
    }
  }
  order_.push_back({k, ts});
  pending_.push_back({k, ts});
  // Each replacement leaves its predecessor's entry behind in order_; a table that never fills
  // (where eviction would drop them) gets them dropped here.
  if (order_.size() > 2 * flows_.size() + 1024) std::erase_if(order_, [this](const FlowRef& r) { return !live(r); });
  return f;
}

// A flow replaced by a new one on its tuple: changes of it that tick() has not handed out yet find
// it, not its successor, until the caller has seen them.
void Correlator::retire(Flow& f) {
  replaced_++;
  if (!f.change_queued) {  // the common case: its changes were handed out long ago
    keep_if_diagnosed(std::move(f));
    return;
  }
  FlowRef ref{f.key, f.first_seen_ns};
  retired_.insert_or_assign(ref, std::move(f));
}

// A diagnosed flow stays in the report after another connection took its tuple: a client that
// retries from the same port (or whose ports came round while conntrack still holds the unanswered
// entry) must not make a failure vanish from it.
void Correlator::keep_if_diagnosed(Flow&& f) {
  if (f.verdict.empty()) return;
  if (replaced_diagnosed_.size() == kKeptReplaced) replaced_diagnosed_.pop_front();
  replaced_diagnosed_.push_back(std::move(f));
}

// What an undecided flow's verdict will rest on, known before it is decided: where it went, from
// which address, by which route and device. Flows of one cause get one diagnosis.
static uint64_t cause_of(const Flow& f) {
  FlowKey k = f.key;
  k.sport = 0;  // every connection of a flood has its own port
  k.src = f.snat_ip.value_or(f.key.src);
  uint64_t h = FlowKeyHash{}(k);
  for (uint64_t word : {uint64_t{FlowKeyHash{}(FlowKey{0, 0, f.backend_ip(), {}, f.backend_port(), 0})},
                        uint64_t(uint32_t(f.egress_ifindex)), uint64_t(uint32_t(f.route_ifindex)),
                        uint64_t(uint32_t(f.ingress_ifindex)), f.route ? uint64_t{f.route->table} << 32 | uint32_t(f.route->oif) : 0})
    h = (h ^ word) * 0x9E3779B97F4A7C15ULL;
  return h;
}

void Correlator::evict(std::deque<FlowRef>::iterator at, const Flow* joined_into) {
  if (cfg_.on_undecided_evicted) {
    const Flow* f = live(*at);
    if (f && f->state == FlowState::Pending) cfg_.on_undecided_evicted(f->key, joined_into ? &joined_into->key : nullptr);
  }
  flows_.erase(at->key);
  order_.erase(at);
  evicted_++;
}

// The table is full. Under a flood its oldest flows are undecided, and evicting them blindly loses
// them uncounted, a new cause's first flows as readily as the flood's. So among the oldest kWindow
// flows: a decided one goes first; else an undecided one that shares its cause with an older
// undecided one joins it (counted in Flow::joined, decided and diagnosed with it): the first and the
// latest flows of each cause keep their detail. Only when neither is there does the oldest go.
void Correlator::evict_for_room() {
  constexpr size_t kWindow = 64;
  std::unordered_map<uint64_t, Flow*> first_of_cause;
  size_t looked = 0;
  for (auto it = order_.begin(); it != order_.end() && looked < kWindow; ++it) {
    Flow* f = live(*it);
    if (!f) continue;
    looked++;
    if (f->state != FlowState::Pending) return evict(it);
    if (!f->nat_seen) continue;  // its cause is not known yet
    auto [first, fresh] = first_of_cause.try_emplace(cause_of(*f), f);
    if (!fresh) {
      first->second->joined += 1 + f->joined;
      joined_ += 1;
      return evict(it, first->second);
    }
  }
  while (!order_.empty()) {
    if (Flow* f = live(order_.front())) {
      if (f->state == FlowState::Pending) lost_undecided_++;
      return evict(order_.begin());
    }
    order_.pop_front();
  }
}

// A packet of the flow that went (or, on a backend, came) and has no answer yet.
void Correlator::mark_live(Flow& f, uint64_t ts) {
  // A flow from before the start, unanswered by conntrack's word, that still sends its SYN is failing
  // now, not only in the past. (A packet from before the table was read, read late, is the past.)
  if (ts < f.first_seen_ns) return;
  if (f.preexisting && !f.seen_live && f.state == FlowState::Unanswered) preexisting_still_failing_++;
  f.seen_live = true;
}

void Correlator::note_packet(Flow& f, uint64_t ts) {
  mark_live(f, ts);
  f.packets_unreplied++;
  note_time(f.packet_ns, ts);
  f.last_packet_ns = ts;
  announce(f);
}

void Correlator::announce(Flow& f) {
  if (f.announced) return;
  f.announced = true;
  changes_.push_back({Change::NewFlow, f.key, f.first_seen_ns, ticking_ ? &f : nullptr});
  f.change_queued = f.change_queued || !ticking_;
}

void Correlator::decide(Flow& f, FlowState s, uint64_t ts) {
  if (f.state == s) return;
  // A late answer overrides "unanswered"; nothing else overrides a verdict.
  if (f.state != FlowState::Pending && !(f.state == FlowState::Unanswered && s == FlowState::Answered)) return;
  announce(f);
  if (f.preexisting && f.seen_live && f.state == FlowState::Unanswered) preexisting_still_failing_--;  // answered late
  f.state = s;
  f.decided_ns = ts;
  changes_.push_back({Change::Decided, f.key, f.first_seen_ns, ticking_ ? &f : nullptr});
  f.change_queued = f.change_queued || !ticking_;
}

void Correlator::on_nat(const svc_event& ev) {
  auto key = FlowKey::from_tuple(ev.netns, ev.tuple);
  // The kernel reports a packet here only while its conntrack entry has seen no reply. For a flow that
  // had its reply, or whose socket is done, it is another connection's on the same tuple (the
  // client's ports wrapped, or a pod reused one): the old flow, reported when it was decided, makes
  // way, or the new one's verdict would be lost in it.
  Flow& f = flow_for(key, ev.ts_ns, /*new_conntrack_entry=*/true);
  const svc_tuple& r = ev.nat.reply;
  f.nat_seen = true;
  IpAddr reply_src = IpAddr::from_bytes(r.family, r.src);
  IpAddr reply_dst = IpAddr::from_bytes(r.family, r.dst);
  // The reply tuple is what the backend will answer with: its source is the DNAT target and its
  // destination the (possibly SNAT'd) address the backend sees.
  if (reply_src != key.dst || r.sport != key.dport) {
    f.dnat_ip = reply_src;
    f.dnat_port = r.sport;
  }
  if (reply_dst != key.src || r.dport != key.sport) {
    f.snat_ip = reply_dst;
    f.snat_port = r.dport;
  }
  if (ev.nat.hook == SVC_NAT_PRE_ROUTING) {
    if (!f.local && !f.ingress_ifindex) f.ingress_ifindex = ev.nat.out_ifindex;
  } else if (ev.nat.hook == SVC_NAT_POST_ROUTING) {
    // It passed LOCAL_OUT: generated on this node, unless it came in by a device first (a pod's
    // connection to an IPVS service, which IPVS takes at LOCAL_IN and sends on through LOCAL_OUT).
    if (ev.nat.route_ifindex && !f.ingress_ifindex) {
      f.local = true;
      f.route_ifindex = ev.nat.route_ifindex;
    }
    f.egress_ifindex = ev.nat.out_ifindex;
    note_packet(f, ev.ts_ns);
  }
}

void Correlator::on_tcp(const svc_event& ev) {
  auto key = FlowKey::from_tuple(ev.netns, ev.tuple);
  Flow& f = flow_for(key, ev.ts_ns);
  // An ICMP error that arrived while connect() held the socket is kept as a soft error: a local
  // REJECT (kube-proxy's, for a service without endpoints) shows up only there.
  int err = ev.tcp.sk_err ? ev.tcp.sk_err : ev.tcp.sk_err_soft;
  f.sk_err = err;
  if (ev.kind == SVC_EV_TCP_STATE) f.socket_done = true;  // it left SYN_SENT
  if (ev.kind == SVC_EV_TCP_RETRANS) {
    mark_live(f, ev.ts_ns);
    f.retransmits++;
    note_time(f.retransmit_ns, ev.ts_ns);
    f.last_packet_ns = ev.ts_ns;
    // A retransmitted SYN is the kernel saying the first went unanswered for its full timeout.
    decide(f, err == ECONNREFUSED ? FlowState::Refused : FlowState::Unanswered, ev.ts_ns);
    return;
  }
  if (ev.tcp.new_state == kTcpEstablished) {
    decide(f, FlowState::Answered, ev.ts_ns);
  } else if (ev.tcp.new_state == kTcpClose) {
    if (err == ECONNREFUSED || (f.drops && !f.reply_ns && ev.ts_ns - f.first_seen_ns < cfg_.unanswered_after_ns))
      // Refused, by the backend or by a REJECT of this node: a connect() that fails at once because a
      // local rule dropped its SYN leaves no socket error, only the drop.
      decide(f, FlowState::Refused, ev.ts_ns);
    else if (err == ETIMEDOUT || ev.ts_ns - f.first_seen_ns >= cfg_.unanswered_after_ns)
      decide(f, FlowState::Unanswered, ev.ts_ns);
    else
      decide(f, FlowState::Abandoned, ev.ts_ns);  // the client gave up before we could tell
  }
}

void Correlator::on_reply(const svc_event& ev) {
  auto it = flows_.find(FlowKey::from_tuple(ev.netns, ev.tuple));
  if (it == flows_.end()) return;  // a reply to a flow we never saw leave (or already evicted)
  Flow& f = it->second;
  if (f.reply_ns) return;
  f.reply_ns = ev.ts_ns;
  f.reply_ifindex = ev.reply.ifindex;
  f.reply_tcp_flags = ev.reply.tcp_flags;
  constexpr uint8_t kTcpRst = 0x04;
  if (ev.reply.ctinfo == kCtRelatedReply) {
    f.icmp_error = true;
    f.icmp_type = ev.reply.icmp_type;
    f.icmp_code = ev.reply.icmp_code;
    f.icmp_from = IpAddr::from_bytes(ev.tuple.family, ev.reply.icmp_from);
    decide(f, FlowState::Refused, ev.ts_ns);
  } else if (f.key.proto == IPPROTO_TCP && (ev.reply.tcp_flags & kTcpRst)) {
    decide(f, FlowState::Refused, ev.ts_ns);
  } else {
    replied_.push_back({f.key, f.first_seen_ns});  // answered, unless dropped within the grace period
  }
}

void Correlator::on_drop(const svc_event& ev) {
  // The kernel only reports drops of flows to the CIDRs; one dropped before it left (by a REJECT in
  // OUTPUT, say) is known by its drops alone. Any other drop of a flow not in the table is of one
  // that left it (evicted, or answered long ago and replaced): it starts no flow.
  auto key = FlowKey::from_tuple(ev.netns, ev.tuple);
  // A packet that conntrack made no entry for (its table full) is a new connection's too: nothing else
  // of the flow may ever be seen.
  const bool new_flow = ev.reply.ctinfo == kCtNew || ev.reply.ctinfo == SVC_CTINFO_UNTRACKED;
  if (!new_flow && !flows_.count(key)) return;
  // A new conntrack entry's SYN dropped before it left (a REJECT in OUTPUT) is a new connection's,
  // as at on_nat.
  Flow& f = flow_for(key, ev.ts_ns, /*new_conntrack_entry=*/new_flow);
  // Once answered, the flow needs no more of its packets: what the kernel frees then (the closing
  // exchange of a connection that worked) is no evidence about it.
  if (f.state == FlowState::Answered) return;
  // The first drop says why (NETFILTER_DROP, IP_RPFILTER); later ones are often the socket's cleanup.
  if (f.drops++ == 0) {
    f.drop_reason = ev.reply.drop_reason;
    f.drop_ifindex = ev.reply.ifindex;
  }
  if (is_reply_direction(ev.reply.ctinfo) && !f.reply_ns) {
    // The reply arrived and was dropped before a hook that reports replies saw it (rp_filter drops in
    // ip_rcv_finish, after PRE_ROUTING; kernels before 6.4 have no hook that reports replies at all):
    // the drop is the evidence that it came back, and on which device.
    f.reply_ns = ev.ts_ns;
    f.reply_ifindex = ev.reply.ifindex;
  }
  if (ev.reply.ctinfo == SVC_CTINFO_UNTRACKED) f.untracked_drop = true;
  if (ev.reply.ctinfo == SVC_CTINFO_INVALID) {
    f.reply_invalid = true;  // whatever was dropped first, the reply's own drop names the cause
    f.drop_reason = ev.reply.drop_reason;
    f.drop_ifindex = ev.reply.ifindex;
  }
  f.last_drop_ns = ev.ts_ns;
}

void Correlator::on_reply_route(const svc_event& ev) {
  auto key = FlowKey::from_tuple(ev.netns, ev.tuple);
  if (ev.route.err == 0) {
    // A later rule's table had the route after all: the SYN-ACK left.
    if (auto it = flows_.find(key); it != flows_.end() && it->second.inbound)
      decide(it->second, FlowState::Answered, ev.ts_ns);
    return;
  }
  bool fresh = !flows_.count(key);
  Flow& f = flow_for(key, ev.ts_ns);
  if (fresh) {
    // Not a connect() of this host's: the route and owner remembered for its destination are not its.
    f.route.reset();
    f.pid = 0;
    f.comm.clear();
  }
  f.inbound = true;
  f.arrival_ifindex = ev.route.iif;
  if (!f.reply_route_missed_table) {
    f.reply_route_missed_table = ev.route.table;
    f.reply_route_err = ev.route.err;
  }
  // Each SYN that came in and could not be answered; the flow is called unanswered by the same
  // timeout as a connect() whose SYNs got no answer.
  note_packet(f, ev.ts_ns);
}

std::vector<Correlator::Change> Correlator::tick(uint64_t now_ns) {
  // The flows retired since the last tick are those of the changes handed out now; the caller has
  // diagnosed those of the last.
  for (auto& [ref, f] : handed_out_) keep_if_diagnosed(std::move(f));
  handed_out_.clear();
  handed_out_.swap(retired_);
  ticking_ = true;  // what is decided from here on cannot be evicted before the caller sees it
  while (!replied_.empty()) {
    if (Flow* fp = live(replied_.front())) {
      Flow& f = *fp;
      if (now_ns - f.reply_ns < cfg_.reply_grace_ns) break;
      if (!f.drops || f.last_drop_ns < f.reply_ns) decide(f, FlowState::Answered, f.reply_ns);
    }
    replied_.pop_front();
  }
  // pending_ is in order of first sight, so only its front can have timed out.
  while (!pending_.empty()) {
    Flow* f = live(pending_.front());
    if (!f || f->state != FlowState::Pending) {
      pending_.pop_front();
      continue;
    }
    if (now_ns - f->first_seen_ns < cfg_.unanswered_after_ns) break;
    decide(*f, FlowState::Unanswered, now_ns);
    pending_.pop_front();
  }
  ticking_ = false;
  std::vector<Change> out;
  out.swap(changes_);
  // A flow noted by an event may have been evicted since (null: not found), or replaced (retire).
  for (auto& ch : out) {
    if (ch.flow) continue;
    FlowRef ref{ch.key, ch.first_seen_ns};
    if (Flow* f = live(ref)) {
      f->change_queued = false;
      ch.flow = f;
    } else if (auto r = handed_out_.find(ref); r != handed_out_.end()) {
      ch.flow = &r->second;
    }
  }
  return out;
}

const Flow* Correlator::find(const FlowKey& k) const {
  auto it = flows_.find(k);
  return it == flows_.end() ? nullptr : &it->second;
}

// f is one of flows_'s values, as find() gave it out: no second lookup (a flood decides tens of
// thousands of flows a second, and each lookup in a large table is a cache miss or two).
void Correlator::set_verdict(const Flow& f, std::string verdict) { const_cast<Flow&>(f).verdict = std::move(verdict); }

void Correlator::set_container(const Flow& f, Container c) { const_cast<Flow&>(f).container = std::move(c); }

void Correlator::set_names(const Flow& f, std::string service, std::string pod) {
  const_cast<Flow&>(f).service = std::move(service);
  const_cast<Flow&>(f).pod = std::move(pod);
}

std::vector<const Flow*> Correlator::flows() const {
  std::vector<const Flow*> out;
  out.reserve(flows_.size() + replaced_diagnosed_.size());
  auto by_first_sight = [](const Flow* a, const Flow* b) { return a->first_seen_ns < b->first_seen_ns; };
  for (const Flow& f : replaced_diagnosed_) out.push_back(&f);
  std::sort(out.begin(), out.end(), by_first_sight);  // (those retired before a tick come in no order)
  const auto replaced_end = out.size();
  for (const auto& r : order_)
    if (auto f = live(r)) out.push_back(f);
  std::inplace_merge(out.begin(), out.begin() + replaced_end, out.end(), by_first_sight);
  return out;
}

}  // namespace svctrace
