// A scratch network namespace that mirrors what the current namespace's route decisions depend on, so
// that a route can be tried there and the kernel itself asked what it changes (`svctrace`'s printed
// fixes are proven this way: diagnose/safe_fix.h). Nothing of the node's own configuration is changed.
//
// The namespace is held only by file descriptors (its fd and two netlink sockets): no name in
// /run/netns, no mount, no device outside it. The kernel frees it, and the devices in it, when they
// close, whether svctrace closes them, exits or is killed with SIGKILL. The process never enters it:
// a short-lived thread of its own unshares into it and leaves the sockets behind.
//
// Mirrored: every link (with its ifindex and name, as a dummy device, or an empty bridge where the
// kernel has no dummies; a VRF with its table), its master and whether it is up; every address; every
// rule; the routes of every table. Not mirrored: a device's carrier, neighbours, sysctls (none
// decides `ip route get`'s device or source in a namespace where ignore_routes_with_linkdown is off),
// the NAT rules. A kernel without VRF devices cannot mirror a node with VRFs: the constructor throws.
//
// A source NAT is tried there too: the fix's own command is run in the mirror (its NAT rules start
// empty), a packet is sent there out of one of its dummy devices (which drop it: nothing leaves the
// mirror), and the conntrack entry it made says what the kernel's NAT step did to its source.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "node/netlink.h"
#include "node/route.h"

namespace svctrace {

class RoutingMirror {
 public:
  // Mirrors the calling thread's namespace. Throws NetnsError (not a usage error) when the kernel
  // refuses a namespace (no CAP_SYS_ADMIN), std::runtime_error when netlink fails.
  RoutingMirror();
  ~RoutingMirror();
  RoutingMirror(const RoutingMirror&) = delete;
  RoutingMirror& operator=(const RoutingMirror&) = delete;

  // Adds `r` in the mirror, as `ip route replace` would: "" or why the kernel refused it.
  std::string add_route(const Route& r);
  // The mirror's routing, as its kernel answers.
  RoutingView& routing() { return *routing_; }
  // Runs `command` with `sh -c` in a child process that has entered the mirror, as the fix would be
  // run on the node: "" or how it failed.
  std::string run(const std::string& command);
  // The source the mirror's NAT gives a connection of `proto` (TCP or UDP) from local address `from`
  // to `to`:`port`: one packet sent, and the conntrack entry it made read back. nullopt, saying why in
  // the debug log, when there is no entry to read.
  std::optional<IpAddr> source_after_nat(uint8_t proto, const IpAddr& from, const IpAddr& to, uint16_t port);
  // How many of the node's links, addresses, rules and routes the mirror holds, and how many the
  // kernel refused (besides those it had made itself, such as the local table's routes).
  size_t copied() const { return copied_; }
  size_t refused() const { return refused_; }

 private:
  void build(NetlinkRouting& live);
  void copy_links(NetlinkRouting& live);
  void replay(const std::vector<std::string>& messages, bool routes);
  int fd_ = -1;
  std::unique_ptr<NetlinkRouting> routing_;  // its socket lives in the mirror
  size_t copied_ = 0, refused_ = 0;
};

}  // namespace svctrace
