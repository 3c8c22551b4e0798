// Reads the conntrack table through libnetfilter_conntrack: the netfilter project's own library knows
// the nested CTA_* attribute layout, which changes with protocols and kernel versions.
#include "svctrace/conntrack.h"

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace svctrace {

namespace {

struct DumpState {
  const std::vector<Cidr>* cidrs;
  uint32_t netns;
  std::vector<ExistingFlow> out;
};

IpAddr v4(uint32_t be) {
  IpAddr ip;
  ip.family = AF_INET;
  std::memcpy(ip.bytes.data(), &be, 4);
  return ip;
}

int on_entry(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  auto* st = static_cast<DumpState*>(data);
  uint8_t proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return NFCT_CB_CONTINUE;
  ExistingFlow f;
  f.key.netns = st->netns;
  f.key.proto = proto;
  f.key.src = v4(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
  f.key.dst = v4(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST));
  f.key.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
  f.key.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  bool wanted = false;
  for (const auto& c : *st->cidrs) wanted |= c.contains(f.key.dst);
  if (!wanted) return NFCT_CB_CONTINUE;

  // As in the BPF side: the reply tuple's source is the DNAT target, its destination the SNAT result.
  IpAddr reply_src = v4(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC));
  uint16_t reply_sport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
  IpAddr reply_dst = v4(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST));
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
  uint32_t family = AF_INET;
  int rc = nfct_query(h, NFCT_Q_DUMP, &family);
  int err = errno;
  nfct_close(h);
  if (rc < 0) throw std::runtime_error(std::string("cannot dump the conntrack table: ") + std::strerror(err));
  return st.out;
}

}  // namespace svctrace
