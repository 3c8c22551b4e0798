#include "session/packet_capture.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <span>

#include "report/pcapng.h"

namespace svctrace {

PacketCapture::PacketCapture(size_t max_packets, uint64_t unix_minus_monotonic_ns)
    : max_packets_(max_packets), unix_offset_ns_(unix_minus_monotonic_ns) {}

void PacketCapture::on_packet(const svc_packet& p) {
  const FlowKey key = FlowKey::from_tuple(p.netns, p.flow);
  if (auto it = failed_.find(key); it != failed_.end()) {
    keep(p, it->second);
  } else if (waiting_count_ < max_packets_) {
    waiting_[key].push_back(p);
    waiting_count_++;
  } else {
    not_kept_++;  // too many flows undecided: a flood, whose first packets are in the file already
  }
}

void PacketCapture::keep(const svc_packet& p, size_t verdict) {
  if (kept_.size() < max_packets_) kept_.push_back({p, verdict});
  else not_kept_++;
}

size_t PacketCapture::verdict_index(const std::string& verdict, int group, long diagnosis) {
  auto [it, added] = verdict_index_.try_emplace({verdict, group, diagnosis}, verdicts_.size());
  if (added) verdicts_.push_back({verdict, group, diagnosis});
  return it->second;
}

void PacketCapture::forget_waiting(const FlowKey& key) {
  if (auto it = waiting_.find(key); it != waiting_.end()) {
    waiting_count_ -= it->second.size();
    waiting_.erase(it);
  }
}

void PacketCapture::flow_failed(const Flow& f, const std::string& verdict, int group, long diagnosis) {
  // Past the limit, a flow's packets would only be counted: it is not remembered either.
  if (kept_.size() >= max_packets_) {
    if (auto it = waiting_.find(f.key); it != waiting_.end()) not_kept_ += it->second.size();
    forget_waiting(f.key);
    return;
  }
  const size_t v = verdict_index(verdict, group, diagnosis);
  if (failed_.size() < max_packets_) failed_[f.key] = v;
  if (auto it = waiting_.find(f.key); it != waiting_.end())
    for (const svc_packet& p : it->second) keep(p, v);
  forget_waiting(f.key);
}

void PacketCapture::flow_answered(const Flow& f) { forget_waiting(f.key); }

void PacketCapture::flow_evicted(const FlowKey& gone, const FlowKey* joined_into) {
  auto it = waiting_.find(gone);
  if (it == waiting_.end()) return;
  if (joined_into && *joined_into != gone) {
    std::vector<svc_packet>& into = waiting_[*joined_into];  // may rehash: `it` is not used after
    std::vector<svc_packet> moved = std::move(waiting_.find(gone)->second);
    into.insert(into.end(), moved.begin(), moved.end());
    waiting_.erase(gone);
    return;
  }
  not_kept_ += it->second.size();
  forget_waiting(gone);
}

namespace {

// Where the packet was seen, in words: the first line of its comment.
std::string where_seen(const svc_packet& p, const std::string& dev, const PacketCapture::Names& names) {
  switch (p.seen) {
    case SVC_PKT_LEFT: return fmt::format("left by {}, after NAT", dev);
    case SVC_PKT_CAME_IN: return fmt::format("came in by {}, after destination NAT", dev);
    case SVC_PKT_REPLY: return fmt::format("the flow's first reply, came in by {}", dev);
    case SVC_PKT_DROPPED:
      return fmt::format("dropped by the kernel{}: {}", p.ifindex ? " on " + dev : "",
                         names.drop_reason(p.drop_reason));
  }
  return fmt::format("seen on {}", dev);
}

}  // namespace

PacketCapture::File PacketCapture::file(const Names& names) const {
  File out;
  PcapngWriter writer;
  std::map<std::pair<uint32_t, int>, uint32_t> interfaces;  // (netns, ifindex) -> interface id
  std::vector<const Kept*> order;
  for (const Kept& k : kept_) order.push_back(&k);
  std::stable_sort(order.begin(), order.end(),
                   [](const Kept* a, const Kept* b) { return a->packet.ts_ns < b->packet.ts_ns; });
  uint32_t frame = 0;
  for (const Kept* k : order) {
    const svc_packet& p = k->packet;
    const std::string dev = p.ifindex ? names.interface(p.ifindex) : "no device yet";
    auto [it, added] = interfaces.try_emplace({p.netns, p.ifindex}, 0);
    if (added)
      it->second = writer.add_interface(dev, fmt::format("ifindex {} in network namespace {}", p.ifindex, p.netns),
                                        SVC_SNAP_LEN);
    const Verdict& v = verdicts_[k->verdict];
    const FlowKey key = FlowKey::from_tuple(p.netns, p.flow);
    const std::string comment =
        fmt::format("svctrace: {}\nflow {} {} -> {}\nverdict: {} (group {})", where_seen(p, dev, names),
                    proto_name(key.proto), endpoint(key.src, key.sport), endpoint(key.dst, key.dport), v.verdict,
                    v.group);
    writer.add_packet(it->second, p.ts_ns + unix_offset_ns_,
                      std::span<const uint8_t>(p.data, std::min<size_t>(p.caplen, SVC_SNAP_LEN)),
                      std::max<uint32_t>(p.wire_len, p.caplen), comment);
    ++frame;
    if (v.diagnosis >= 0) out.frames_by_diagnosis[v.diagnosis].push_back(frame);
  }
  out.bytes = writer.bytes();
  return out;
}

}  // namespace svctrace
