#include "capture/held_flows.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace svctrace {

HeldFlows::Mapping HeldFlows::map_array(bpf_map* m) {
  // The kernel lays an mmapable array out as its values back to back, each rounded up to 8 bytes.
  size_t value = (bpf_map__value_size(m) + 7) / 8 * 8;
  size_t len = value * bpf_map__max_entries(m);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  len = (len + page - 1) / page * page;
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
  if (addr == MAP_FAILED)
    throw std::runtime_error(fmt::format("cannot map the BPF table {}: {}", bpf_map__name(m), std::strerror(errno)));
  return {addr, len};
}

HeldFlows::HeldFlows(bpf_map* awaiting_reply, bpf_map* held_flows, bpf_map* service_counts, bpf_map* held_packets)
    : awaiting_(map_array(awaiting_reply)), counts_fd_(bpf_map__fd(service_counts)) {
  static_assert(sizeof(svc_awaiting_entry) * SVC_AWAITING_WAYS % 8 == 0 && sizeof(svc_held_flow) % 8 == 0 &&
                sizeof(svc_packet) % 8 == 0);
  try {
    held_ = map_array(held_flows);
    if (held_packets) packets_ = map_array(held_packets);
  } catch (...) {
    munmap(awaiting_.addr, awaiting_.len);
    if (held_.addr) munmap(held_.addr, held_.len);
    throw;
  }
  entries_ = size_t{bpf_map__max_entries(awaiting_reply)} * SVC_AWAITING_WAYS;
  slots_ = bpf_map__max_entries(held_flows);
}

HeldFlows::~HeldFlows() {
  munmap(awaiting_.addr, awaiting_.len);
  munmap(held_.addr, held_.len);
  if (packets_.addr) munmap(packets_.addr, packets_.len);
}

// The flows still awaiting their reply are found in the awaiting table (a megabyte), and only their
// held slots read (the held table is 16 times its size). The kernel writes both tables while this
// reads them: a held slot is copied, then its state and owner are read again, and a copy that changed
// meanwhile is not used. Marking it released can race with the kernel releasing it too (a retransmit
// at that instant): the records then arrive twice, which the correlator takes as one flow.
size_t HeldFlows::release_stalled(uint64_t now_ns, uint64_t age_ns,
                                  const std::function<void(const svc_event&)>& deliver,
                                  const std::function<void(const svc_packet&)>& deliver_packet) {
  auto* entries = static_cast<volatile svc_awaiting_entry*>(awaiting_.addr);
  auto* held = static_cast<svc_held_flow*>(held_.addr);
  size_t released = 0;
  for (size_t e = 0; e < entries_; e++) {
    if (!entries[e].stamp) continue;  // answered, or free
    const uint32_t ref = entries[e].held;
    const uint64_t ct = entries[e].ct;
    if (!ref || ref > slots_) continue;  // not held
    const size_t i = ref - 1;
    auto* state = reinterpret_cast<std::atomic<uint32_t>*>(&held[i].state);
    if (state->load(std::memory_order_acquire) != SVC_HELD) continue;
    svc_held_flow copy;
    std::memcpy(&copy, &held[i], sizeof copy);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (copy.ct != ct || now_ns < copy.left_ts + age_ns) continue;  // another flow's slot, or not due
    if (state->load(std::memory_order_relaxed) != SVC_HELD ||
        static_cast<volatile svc_held_flow*>(&held[i])->ct != ct)
      continue;
    state->store(SVC_HELD_RELEASED, std::memory_order_release);
    svc_event record;  // its records, as the kernel would make them
    if (copy.ingress_ifindex) {
      svc_ingress_record(&record, &copy);
      deliver(record);
    }
    if (copy.has_route) {
      svc_held_route_record(&record, &copy);
      deliver(record);
    }
    svc_held_nat_record(&record, &copy);
    deliver(record);
    if (packets_.addr) release_packet(i, copy.tuple, deliver_packet);
    released++;
  }
  return released;
}

// The held flow of `flow` in slot i was released: its first packet, if the kernel kept one, goes out
// (as the kernel's release_held_packet would send it). A copy that is not that flow's (the kernel gave
// the slot to another flow meanwhile) is not sent; the new flow then loses its kept packet, a race
// as rare as the slot's reuse within the copy.
void HeldFlows::release_packet(size_t i, const svc_tuple& flow,
                               const std::function<void(const svc_packet&)>& deliver_packet) {
  auto* packet = static_cast<svc_packet*>(packets_.addr) + i;
  svc_packet copy;
  std::memcpy(&copy, packet, sizeof copy);
  reinterpret_cast<std::atomic<uint32_t>*>(&packet->kind)->store(0, std::memory_order_relaxed);
  if (copy.kind != SVC_EV_PACKET || copy.caplen > SVC_SNAP_LEN || std::memcmp(&copy.flow, &flow, sizeof flow) != 0)
    return;
  deliver_packet(copy);
}

bool HeldFlows::KeyLess::operator()(const svc_service_key& a, const svc_service_key& b) const {
  return std::memcmp(&a, &b, sizeof a) < 0;
}

std::vector<ServiceCount> HeldFlows::counted_since_last() {
  const int ncpu = std::max(1, libbpf_num_possible_cpus());
  std::vector<svc_service_counts> per_cpu(static_cast<size_t>(ncpu));
  std::vector<ServiceCount> out;
  svc_service_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(counts_fd_, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(counts_fd_, &key, per_cpu.data()) != 0) continue;
    ServiceCount now{key};
    // Wrapping sums: a count taken back on another CPU than the one that made it is -1 there.
    for (const auto& c : per_cpu) {
      now.answered += c.answered;
      for (size_t b = 0; b < SVC_CONNECT_BUCKETS; b++) now.connect_us_log2[b] += c.connect_us_log2[b];
    }
    ServiceCount& before = totals_.try_emplace(key, ServiceCount{key}).first->second;
    ServiceCount delta{key, now.answered - before.answered};
    bool any = delta.answered != 0;
    for (size_t b = 0; b < SVC_CONNECT_BUCKETS; b++) {
      delta.connect_us_log2[b] = now.connect_us_log2[b] - before.connect_us_log2[b];
      any = any || delta.connect_us_log2[b];
    }
    before = now;
    if (any) out.push_back(delta);
  }
  return out;
}

}  // namespace svctrace
