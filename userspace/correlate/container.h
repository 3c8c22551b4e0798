// Which container a process runs in, so that a flow names "kubelet" or a pod's container and not
// only a pid. The node finds it (node/container_lookup.h); the flow carries it.
#pragma once
#include <string>

namespace svctrace {

struct Container {
  std::string id;       // the runtime's 64-hex container id, or "" when the process is in none
  std::string pod_uid;  // the Kubernetes pod's UID, when the path shows one (kubepods)
  std::string pod = {};  // its "namespace/name", when the node's files name it (node/pod_names.h)
};

}  // namespace svctrace
