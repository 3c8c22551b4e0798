#include "node/pod_names.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace svctrace {

namespace fs = std::filesystem;

namespace {

// An id or a UID as it may be a file name: hex digits and dashes, nothing that walks out of a directory.
bool plain_id(const std::string& s) {
  return !s.empty() && s.size() <= 128 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == '-'; });
}

// "namespace/name" from the annotations of an OCI spec, or "".
std::string pod_in_spec(const std::string& path, const char* ns_key, const char* name_key) {
  std::ifstream in(path);
  if (!in) return "";
  auto spec = nlohmann::json::parse(in, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) return "";
  auto a = spec.find("annotations");
  if (a == spec.end() || !a->is_object()) return "";
  auto ns = a->find(ns_key), name = a->find(name_key);
  if (ns == a->end() || name == a->end() || !ns->is_string() || !name->is_string()) return "";
  return ns->get<std::string>() + "/" + name->get<std::string>();
}

}  // namespace

PodNames::PodNames(std::string host_root) : root_(std::move(host_root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string PodNames::path(const std::string& under_root) const {
  return root_ == "/" ? "/" + under_root : root_ + "/" + under_root;
}

std::string PodNames::of_uid(const std::string& uid) const {
  if (!plain_id(uid)) return "";
  const std::string suffix = "_" + uid;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(path("var/log/pods"), ec)) {
    std::string name = dir.path().filename().string();  // NAMESPACE_NAME_UID
    if (name.size() <= suffix.size() || !name.ends_with(suffix)) continue;
    name.resize(name.size() - suffix.size());
    size_t sep = name.find('_');
    if (sep == std::string::npos || sep == 0 || sep + 1 == name.size()) continue;
    return name.substr(0, sep) + "/" + name.substr(sep + 1);
  }
  return "";
}

std::string PodNames::of_ip(const IpAddr& ip) const {
  if (!ip.is_set()) return "";
  std::error_code ec;
  for (const auto& net : fs::directory_iterator(path("var/lib/cni/networks"), ec)) {
    std::ifstream in(net.path() / ip.str());
    std::string id;
    if (!std::getline(in, id)) continue;
    while (!id.empty() && std::isspace(static_cast<unsigned char>(id.back()))) id.pop_back();
    if (auto pod = of_sandbox(id); !pod.empty()) return pod;
  }
  return "";
}

std::string PodNames::of_sandbox(const std::string& id) const {
  if (!plain_id(id)) return "";
  auto pod = pod_in_spec(path("run/containerd/io.containerd.runtime.v2.task/k8s.io/" + id + "/config.json"),
                         "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.cri.sandbox-name");
  if (pod.empty())
    pod = pod_in_spec(path("run/containers/storage/overlay-containers/" + id + "/userdata/config.json"),
                      "io.kubernetes.pod.namespace", "io.kubernetes.pod.name");
  return pod;
}

}  // namespace svctrace
