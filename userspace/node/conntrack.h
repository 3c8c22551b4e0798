// The conntrack entries that already existed when svctrace started, read over netlink, so that
// long-lived and half-open flows to the service CIDRs are known and reported too.
#pragma once
#include <optional>
#include <vector>

#include "correlate/correlator.h"
#include "correlate/address.h"

namespace svctrace {

struct ExistingFlow {
  FlowKey key;
  std::optional<IpAddr> dnat_ip;
  uint16_t dnat_port = 0;
  std::optional<IpAddr> snat_ip;
  uint16_t snat_port = 0;
  bool replied = false;  // conntrack has seen a reply (IPS_SEEN_REPLY)
};

// Dumps the calling thread's network namespace's conntrack table (IPv4 and IPv6) and keeps the entries whose
// original destination is in `cidrs`. Throws std::runtime_error when the table cannot be read.
std::vector<ExistingFlow> existing_flows(const std::vector<Cidr>& cidrs, uint32_t netns);

}  // namespace svctrace
