// Pod names from what the node keeps on disk, without an API server, under a root that a DaemonSet
// mounting the host at /host (or a test's fixture tree) gives with `--host-root`:
//
//   pod UID -> "namespace/name": kubelet's log directory of the pod, var/log/pods/NAMESPACE_NAME_UID/
//     (kubelet makes it for every pod it runs; namespaces and names hold no "_", so the split is
//     exact). kubelet's pods directory, var/lib/kubelet/pods/UID/, names no pod: its etc-hosts gives
//     the pod's hostname, which spec.hostname may change, and its volumes the namespace only.
//   pod IP -> "namespace/name", for a flow forwarded from a pod: the host-local IPAM plugin's
//     var/lib/cni/networks/NETWORK/IP file holds the id of the pod's sandbox (first line); the runtime's
//     bundle of that sandbox holds its pod's namespace and name in the OCI spec's annotations:
//       containerd  run/containerd/io.containerd.runtime.v2.task/k8s.io/ID/config.json
//                   io.kubernetes.cri.sandbox-namespace, io.kubernetes.cri.sandbox-name
//       CRI-O       run/containers/storage/overlay-containers/ID/userdata/config.json
//                   io.kubernetes.pod.namespace, io.kubernetes.pod.name
//     Other IPAM plugins (Calico's, Cilium's, a cloud's) keep no such files: their pods stay IPs.
#pragma once
#include <string>

#include "correlate/address.h"

namespace svctrace {

class PodNames {
 public:
  explicit PodNames(std::string host_root = "/");

  // "namespace/name" of the pod with that UID, or "" when the node has no trace of it.
  std::string of_uid(const std::string& uid) const;
  // "namespace/name" of the pod that holds that IP by the CNI's host-local IPAM state, or "".
  std::string of_ip(const IpAddr& ip) const;
  // The same from a sandbox's id, through the runtime's bundle of it.
  std::string of_sandbox(const std::string& id) const;

 private:
  std::string path(const std::string& under_root) const;
  std::string root_;
};

}  // namespace svctrace
