// The C++ view of include/svctrace/events.h must match what clang lays out for the BPF target.
// bpf/svctrace.bpf.c asserts the same sizes on its side.
#include <cstddef>

#include "svctrace/events.h"

static_assert(sizeof(svc_tuple) == 40);
static_assert(offsetof(svc_tuple, sport) == 32 && offsetof(svc_tuple, proto) == 37);
static_assert(sizeof(svc_route_info) == 72);
static_assert(sizeof(svc_nat_info) == 56);
static_assert(sizeof(svc_tcp_info) == 16);
static_assert(sizeof(svc_reply_info) == 32);
static_assert(offsetof(svc_event, tuple) == 40);
static_assert(offsetof(svc_event, route) == 80);
static_assert(sizeof(svc_event) == 152);
static_assert(sizeof(svc_cidr_key) == 20);
