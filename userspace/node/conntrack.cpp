// Reads the conntrack table through libnetfilter_conntrack: the netfilter project's own library knows
// the nested CTA_* attribute layout, which changes with protocols and kernel versions.
#include "node/conntrack.h"

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/capability.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "node/caps.h"

namespace svctrace {

namespace {

struct DumpState {
  const std::vector<Cidr>* cidrs;
  uint32_t netns;
  std::vector<ExistingFlow> out;
};

// One address of the entry, IPv4 or IPv6 by the entry's own family.
IpAddr address(const nf_conntrack* ct, nf_conntrack_attr v4_attr, nf_conntrack_attr v6_attr) {
  IpAddr ip;
  ip.family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
  const void* raw = nfct_get_attr(ct, ip.family == AF_INET6 ? v6_attr : v4_attr);
  if (raw) std::memcpy(ip.bytes.data(), raw, ip.size());
  return ip;
}

int on_entry(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  auto* st = static_cast<DumpState*>(data);
  uint8_t proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return NFCT_CB_CONTINUE;
  ExistingFlow f;
  f.key.netns = st->netns;
  f.key.proto = proto;
  f.key.src = address(ct, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC);
  f.key.dst = address(ct, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST);
  f.key.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
  f.key.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  bool wanted = false;
  for (const auto& c : *st->cidrs) wanted |= c.contains(f.key.dst);
  if (!wanted) return NFCT_CB_CONTINUE;

  // As in the BPF side: the reply tuple's source is the DNAT target, its destination the SNAT result.
  IpAddr reply_src = address(ct, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC);
  uint16_t reply_sport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
  IpAddr reply_dst = address(ct, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST);
  uint16_t reply_dport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
  if (reply_src != f.key.dst || reply_sport != f.key.dport) {
    f.dnat_ip = reply_src;
    f.dnat_port = reply_sport;
  }
  if (reply_dst != f.key.src || reply_dport != f.key.sport) {
    f.snat_ip = reply_dst;
    f.snat_port = reply_dport;
  }
  f.replied = nfct_get_attr_u32(ct, ATTR_STATUS) & IPS_SEEN_REPLY;
  st->out.push_back(std::move(f));
  return NFCT_CB_CONTINUE;
}

}  // namespace

std::vector<ExistingFlow> existing_flows(const std::vector<Cidr>& cidrs, uint32_t netns) {
  nfct_handle* h = nfct_open(CONNTRACK, 0);
  if (!h) throw std::runtime_error(std::string("cannot open the conntrack netlink socket: ") + std::strerror(errno));
  DumpState st{&cidrs, netns, {}};
  nfct_callback_register(h, NFCT_T_ALL, on_entry, &st);
  for (uint32_t family : {AF_INET, AF_INET6}) {
    if (nfct_query(h, NFCT_Q_DUMP, &family) < 0) {
      int err = errno;
      nfct_close(h);
      throw std::runtime_error(std::string("cannot dump the conntrack table: ") + std::strerror(err) +
                               (err == EPERM && !has_capability(effective_capabilities(), CAP_NET_ADMIN)
                                    ? " (missing CAP_NET_ADMIN)"
                                    : ""));
    }
  }
  nfct_close(h);
  return st.out;
}

}  // namespace svctrace
