// nf_floor: holds bench/floor.bpf.c's empty programs attached beside svctrace's (netfilter LOCAL_OUT,
// POST_ROUTING and PRE_ROUTING of the current network namespace, one priority after svctrace's, and
// the tracepoints fib_table_lookup, inet_sock_set_state, tcp_retransmit_skb and kfree_skb) until
// SIGINT or SIGTERM, or --seconds pass. Prints "ready" once attached; bench.sh reads the programs'
// run_time_ns/run_cnt like svctrace's, and runs the connection-rate load under them: what being
// attached where svctrace is costs, before any program does anything. Where the kernel has no
// netfilter links or allows fexit, the floor takes the hooks svctrace takes there instead (asked of
// the kernel with svctrace's own FeatureProbe), so that each of svctrace's programs has its floor.
#include <bpf/libbpf.h>
#include <linux/netfilter.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "floor_bpf.skel.h"
#include "capture/feature_probe.h"
#include "capture/nf_link.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  long seconds = argc == 3 && std::strcmp(argv[1], "--seconds") == 0 ? std::atol(argv[2]) : 0;
  if (seconds <= 0 || seconds > 3600) {
    std::fprintf(stderr, "usage: nf_floor --seconds 1..3600\n");
    return 2;
  }
  floor_bpf* skel = floor_bpf__open();
  if (!skel) {
    std::perror("nf_floor: open");
    return 1;
  }
  svctrace::FeatureProbe probe;
  const bool netfilter = probe.accepts(svctrace::ProgKind::netfilter, "").accepted();
  const bool fexit = probe.accepts(svctrace::ProgKind::fexit, "fib_table_lookup").accepted();
  for (bpf_program* p : {skel->progs.floor_local_out, skel->progs.floor_post_routing, skel->progs.floor_pre_routing}) {
    bpf_program__set_type(p, static_cast<bpf_prog_type>(svctrace::kProgTypeNetfilter));
    bpf_program__set_expected_attach_type(p, static_cast<bpf_attach_type>(svctrace::kAttachNetfilter));
    bpf_program__set_autoload(p, netfilter);
  }
  const bool fexit_nat = !netfilter && probe.accepts(svctrace::ProgKind::fexit, "nf_hook_slow").accepted();
  bpf_program__set_autoload(skel->progs.floor_hook_slow, fexit_nat);
  bpf_program__set_autoload(skel->progs.floor_dev_queue, !netfilter && !fexit_nat);
  bpf_program__set_autoload(skel->progs.floor_receive, !netfilter && !fexit_nat);
  bpf_program__set_autoload(skel->progs.floor_route_fexit, fexit);
  bpf_program__set_autoload(skel->progs.floor_route_tp, !fexit);
  if (int err = floor_bpf__load(skel)) {
    std::fprintf(stderr, "nf_floor: load: %s\n", std::strerror(-err));
    return 1;
  }
  std::vector<bpf_link*> tps;
  for (bpf_program* p : {skel->progs.floor_route_fexit, skel->progs.floor_route_tp, skel->progs.floor_hook_slow,
                         skel->progs.floor_dev_queue,
                         skel->progs.floor_receive, skel->progs.floor_tcp_state, skel->progs.floor_tcp_retransmit,
                         skel->progs.floor_kfree_skb}) {
    if (!bpf_program__autoload(p)) continue;
    bpf_link* tp = bpf_program__attach(p);
    if (!tp) {
      std::fprintf(stderr, "nf_floor: attach %s: %s\n", bpf_program__name(p), std::strerror(errno));
      return 1;
    }
    tps.push_back(tp);
  }
  struct Hook {
    bpf_program* prog;
    uint32_t hooknum;
    int32_t priority;  // just after svctrace's (-99, 101)
  };
  std::vector<int> links;
  if (netfilter) {
    for (const Hook& h : {Hook{skel->progs.floor_local_out, NF_INET_LOCAL_OUT, -98},
                          Hook{skel->progs.floor_post_routing, NF_INET_POST_ROUTING, 102},
                          Hook{skel->progs.floor_pre_routing, NF_INET_PRE_ROUTING, -98}}) {
      int fd = svctrace::create_netfilter_link(bpf_program__fd(h.prog), NFPROTO_IPV4, h.hooknum, h.priority);
      if (fd < 0) {
        std::fprintf(stderr, "nf_floor: netfilter link: %s\n", std::strerror(-fd));
        return 1;
      }
      links.push_back(fd);
    }
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::printf("ready\n");
  std::fflush(stdout);
  for (long i = 0; i < seconds * 10 && !g_stop; i++) usleep(100'000);
  for (int fd : links) close(fd);
  for (bpf_link* tp : tps) bpf_link__destroy(tp);
  floor_bpf__destroy(skel);
  return 0;
}
