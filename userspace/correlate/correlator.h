// The correlator: joins the kernel's route, NAT and TCP events into one record per flow (keyed by
// network namespace and original 5-tuple) and decides each flow: answered, refused or unanswered.
// No BPF here: it is fed struct svc_event values, so tests feed it synthetic sequences.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "correlate/container.h"
#include "svctrace/events.h"
#include "correlate/address.h"

namespace svctrace {

struct FlowKey {
  uint32_t netns = 0;
  uint8_t proto = 0;
  IpAddr src, dst;
  uint16_t sport = 0, dport = 0;

  static FlowKey from_tuple(uint32_t netns, const svc_tuple& t);
  bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const;
};

// What the FIB lookup for the service IP decided, as the BPF route hook saw it.
struct RouteDecision {
  uint64_t ts_ns = 0;
  uint32_t table = 0;
  int oif = 0;
  IpAddr gateway;
  IpAddr prefsrc;   // the route's "src", if it has one
  IpAddr nh_saddr;  // the source the nexthop selects otherwise
  IpAddr flow_src;  // the source in the lookup's flow (set once connect() picked it)
  uint32_t mark = 0;  // the socket's mark, which fwmark rules match
};

enum class FlowState { Pending, Answered, Refused, Unanswered, Abandoned };

// How many packet and retransmit times a flow keeps for the report's timeline (the counts go on).
constexpr size_t kMaxFlowTimes = 16;
const char* to_string(FlowState s);

struct Flow {
  FlowKey key;
  uint32_t pid = 0;
  std::string comm;
  Container container;              // the process's container, when it runs in one
  // Kubernetes' names, where the node's own files give them ("" otherwise): the Service of its
  // destination ("default/kubernetes:https", from kube-proxy's rules), and the pod it came from (the
  // process's; for a forwarded flow, the pod holding its source address).
  std::string service, pod;
  uint64_t first_seen_ns = 0;
  uint64_t last_packet_ns = 0;
  uint64_t decided_ns = 0;
  uint32_t packets_unreplied = 0;  // packets that left (POST_ROUTING) before any reply: the SYNs
  uint32_t retransmits = 0;
  // When they happened (the first kMaxFlowTimes of each): what the report's timeline draws.
  std::vector<uint64_t> packet_ns, retransmit_ns;
  // Whether conntrack's tuples of the flow were read (a NAT event, or the table's dump at start): only
  // then does an unset dnat_ip mean conntrack did not rewrite the destination. With the pre-6.4 NAT
  // hook a packet that never reaches the driver (its next hop does not resolve) is not read at all.
  bool nat_seen = false;
  std::optional<IpAddr> dnat_ip;   // set when conntrack rewrote the destination
  uint16_t dnat_port = 0;
  std::optional<IpAddr> snat_ip;   // set when conntrack rewrote the source
  uint16_t snat_port = 0;
  int route_ifindex = 0;           // device of the route to the service IP (LOCAL_OUT)
  int egress_ifindex = 0;          // device the packet really left by (POST_ROUTING)
  bool local = false;              // generated on this node (it passed LOCAL_OUT)
  int ingress_ifindex = 0;         // for a forwarded flow: the device it came in by (PRE_ROUTING)
  // The first reply, as the node received it (netfilter PRE_ROUTING).
  uint64_t reply_ns = 0;
  int reply_ifindex = 0;
  uint8_t reply_tcp_flags = 0;
  uint8_t icmp_type = 0, icmp_code = 0;  // set when the reply was an ICMP error
  IpAddr icmp_from;                      // and who sent it: the backend, or a router on the way
  bool icmp_error = false;
  // Packets of the flow the kernel dropped while it awaited its reply.
  uint32_t drops = 0;
  uint32_t drop_reason = 0;        // enum skb_drop_reason of the first drop
  int drop_ifindex = 0;            // and its device (0: none yet, as in LOCAL_OUT)
  uint64_t last_drop_ns = 0;
  bool reply_invalid = false;      // a reply was dropped with no conntrack entry: conntrack found it INVALID
  // A packet of it was dropped before conntrack made it an entry: the table was full (or a raw rule).
  bool untracked_drop = false;
  // On a backend (svctrace traced its addresses): a flow that came in, whose SYN-ACK found no route back.
  bool inbound = false;
  int arrival_ifindex = 0;         // the device its SYNs came in by
  uint32_t reply_route_missed_table = 0;  // the first table the kernel's lookup for the answer missed in
  int reply_route_err = 0;                // and its error there (-EAGAIN: no route; else an unreachable route)
  std::optional<RouteDecision> route;
  FlowState state = FlowState::Pending;
  bool preexisting = false;        // already in the conntrack table when svctrace started
  bool seen_live = false;          // a packet or socket event of it seen since svctrace started
  std::string verdict;             // the diagnosis' verdict, when one was made (e.g. asymmetric_source)
  int sk_err = 0;
  bool socket_done = false;        // its socket left SYN_SENT: connected, refused or given up
  bool change_queued = false;      // a change of it waits for tick() to find it (Correlator::retire)
  bool announced = false;
  // Undecided flows of the same cause that made room for newer flows under a flood (evict_for_room):
  // they share this flow's verdict, and are counted with it.
  uint32_t joined = 0;

  bool forwarded() const { return ingress_ifindex != 0 && !local; }
  // conntrack saw its reply (an ICMP error is not one: the SYNs go on) or its socket is done with
  // connect(): a packet of its tuple that conntrack still calls new belongs to another connection.
  bool over() const { return state == FlowState::Answered || (reply_ns && !icmp_error) || socket_done; }
  uint32_t syns() const { return std::max(packets_unreplied, retransmits + 1); }
  // Where the packets really went: the DNAT target, or the original destination.
  IpAddr backend_ip() const { return dnat_ip.value_or(key.dst); }
  uint16_t backend_port() const { return dnat_ip ? dnat_port : key.dport; }
};

// Flows that never reached the correlator: the kernel counted them answered and kept their records
// (held flows, bpf/lib/held.bpf.h), per service. What the metrics and the service counts are told.
struct CountedFlows {
  uint8_t proto = 0;
  std::string service, backend;  // "IP:port"
  std::string service_name;       // Kubernetes' name of the Service, "" when not known
  uint64_t answered = 0;
  // Their connect times (first packet to first reply): bucket i counts [2^i, 2^(i+1)) µs, 0 also 0.
  std::array<uint64_t, SVC_CONNECT_BUCKETS> connect_us_log2{};
};

struct CorrelatorConfig {
  size_t max_flows = 65536;
  // A TCP flow is called unanswered when the kernel retransmits its SYN (1 s after the first, by
  // TCP_TIMEOUT_INIT); this age is the backstop for flows whose retransmits are not seen.
  uint64_t unanswered_after_ns = 1'500'000'000;
  uint32_t self_pid = 0;                          // svctrace's own route lookups are not traffic
  // A reply counts once this long has passed without the kernel dropping it (the drop of a reply,
  // by rp_filter say, is reported just after the reply itself).
  uint64_t reply_grace_ns = 50'000'000;
  // Told of each undecided flow that leaves the table to make room: joined (counted in the flow of
  // its cause it names), or lost (joined_into null). A decided flow leaves unannounced.
  std::function<void(const FlowKey& gone, const FlowKey* joined_into)> on_undecided_evicted = nullptr;
};

class Correlator {
 public:
  explicit Correlator(CorrelatorConfig cfg) : cfg_(cfg) {}

  void on_event(const svc_event& ev);
  // A flow found in the conntrack table at start: answered if conntrack saw a reply, otherwise
  // pending (a half-open flow), to be decided like any other from now on.
  void add_existing(const FlowKey& key, std::optional<IpAddr> dnat_ip, uint16_t dnat_port,
                    std::optional<IpAddr> snat_ip, uint16_t snat_port, bool replied, uint64_t now_ns);
  // Flows that reached a verdict since the last call (or became worth announcing), in order. `flow`
  // is the flow as find() would return it (null if it was evicted meanwhile), valid until the next
  // on_event or add_existing.
  struct Change {
    enum Kind { NewFlow, Decided } kind;
    FlowKey key;
    uint64_t first_seen_ns;  // with key, names the flow (a later one may take its key: retire)
    const Flow* flow = nullptr;
  };
  std::vector<Change> tick(uint64_t now_ns);

  const Flow* find(const FlowKey& k) const;
  // Records the diagnosis' verdict on the flow (one that find() returned, since the last on_event),
  // for the report.
  void set_verdict(const Flow& f, std::string verdict);
  void set_container(const Flow& f, Container c);
  void set_names(const Flow& f, std::string service, std::string pod);
  // In order of first sight; with the diagnosed flows that a later connection on their tuple
  // replaced (at most kKeptReplaced of them): the report lists every failure it can.
  std::vector<const Flow*> flows() const;
  size_t flow_count() const { return flows_.size(); }
  size_t listed_count() const { return flows_.size() + replaced_diagnosed_.size(); }  // flows().size()
  uint64_t evicted() const { return evicted_; }
  // Of them, the undecided flows that joined a flow of the same cause (Flow::joined).
  uint64_t joined() const { return joined_; }
  // And those that were neither decided nor joined a flow of their cause: lost uncounted.
  uint64_t lost_undecided() const { return lost_undecided_; }
  uint64_t replaced() const { return replaced_; }  // flows another connection on their tuple replaced
  uint64_t events() const { return events_; }
  // Flows from before the start, decided unanswered by conntrack's word, that retransmitted since:
  // failing now.
  uint64_t preexisting_still_failing() const { return preexisting_still_failing_; }

 private:
  // A flow's place in a queue: its key, and when it was first seen, which tells it from a later flow
  // that reused the tuple (on_nat).
  struct FlowRef {
    FlowKey key;
    uint64_t first_seen_ns;
    bool operator==(const FlowRef&) const = default;
  };
  struct FlowRefHash {
    size_t operator()(const FlowRef& r) const { return FlowKeyHash{}(r.key) ^ (r.first_seen_ns * 0x9E3779B97F4A7C15ULL); }
  };
  Flow* live(const FlowRef& r);
  const Flow* live(const FlowRef& r) const;
  // The flow of key k, made if there is none (first seen at ts). new_conntrack_entry: the event is
  // of a packet conntrack calls new, which replaces a flow that is over().
  Flow& flow_for(const FlowKey& k, uint64_t ts, bool new_conntrack_entry = false);
  void decide(Flow& f, FlowState s, uint64_t ts);
  void announce(Flow& f);
  void note_packet(Flow& f, uint64_t ts);
  void mark_live(Flow& f, uint64_t ts);
  void evict_for_room();
  // joined_into: the flow of its cause an undecided flow joins, or null.
  void evict(std::deque<FlowRef>::iterator at, const Flow* joined_into = nullptr);
  void retire(Flow& f);
  void on_route(const svc_event& ev);
  void on_nat(const svc_event& ev);
  void on_tcp(const svc_event& ev);
  void on_reply(const svc_event& ev);
  void on_drop(const svc_event& ev);
  void on_reply_route(const svc_event& ev);

  CorrelatorConfig cfg_;
  std::unordered_map<FlowKey, Flow, FlowKeyHash> flows_;
  std::deque<FlowRef> order_;  // insertion order, for reports and eviction
  // Latest route decision per (netns, service IP): the lookup in connect() precedes the first packet.
  std::unordered_map<FlowKey, RouteDecision, FlowKeyHash> routes_by_dst_;
  struct Owner {
    uint32_t pid;
    std::string comm;
  };
  std::unordered_map<FlowKey, Owner, FlowKeyHash> pending_owner_;  // who last connected to a service IP
  // Route decisions of lookups that named their whole flow (source and port chosen), until it starts.
  std::unordered_map<FlowKey, std::pair<RouteDecision, Owner>, FlowKeyHash> exact_;
  std::deque<FlowRef> pending_;  // flows awaiting a verdict, in order of first sight
  std::deque<FlowRef> replied_;  // flows whose reply awaits its grace period
  std::vector<Change> changes_;
  bool ticking_ = false;  // in tick(): a change can point at its flow at once
  uint64_t preexisting_still_failing_ = 0;
  // Replaced flows that queued changes name (retire), until the caller has seen those changes.
  std::unordered_map<FlowRef, Flow, FlowRefHash> retired_, handed_out_;
  // Replaced flows that had a verdict, oldest first (keep_if_diagnosed).
  static constexpr size_t kKeptReplaced = 4096;
  std::deque<Flow> replaced_diagnosed_;
  void keep_if_diagnosed(Flow&& f);
  uint64_t evicted_ = 0, joined_ = 0, lost_undecided_ = 0, replaced_ = 0, events_ = 0;
};

}  // namespace svctrace
