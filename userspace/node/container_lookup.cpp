#include "node/container_lookup.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace svctrace {

namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// "cri-containerd-<id>.scope" -> "<id>"; "<id>" -> "<id>"; anything else -> "".
std::string_view container_id_in(std::string_view component) {
  if (component.size() > 6 && component.substr(component.size() - 6) == ".scope")
    component.remove_suffix(6);
  if (auto dash = component.rfind('-'); dash != std::string_view::npos) component.remove_prefix(dash + 1);
  return component.size() == 64 && is_hex(component) ? component : std::string_view{};
}

// "kubepods-burstable-pod1b2c_..._9.slice" or "pod1b2c-...-9" -> "1b2c-...-9".
std::string pod_uid_in(std::string_view component) {
  auto at = component.rfind("pod");
  if (at == std::string_view::npos) return "";
  std::string_view uid = component.substr(at + 3);
  if (uid.size() > 6 && uid.substr(uid.size() - 6) == ".slice") uid.remove_suffix(6);
  if (uid.size() != 36) return "";
  std::string out(uid);
  std::replace(out.begin(), out.end(), '_', '-');
  for (size_t i = 0; i < out.size(); i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? out[i] != '-' : !std::isxdigit(static_cast<unsigned char>(out[i]))) return "";
  }
  return out;
}

// Calls fn on each piece of text between separators.
template <typename Fn>
void for_each_piece(std::string_view text, char sep, Fn fn) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.find(sep, start), text.size());
    fn(text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

Container container_from_cgroups(std::string_view proc_cgroup) {
  Container found, here;
  for_each_piece(proc_cgroup, '\n', [&](std::string_view line) {
    if (!found.id.empty()) return;
    // "hierarchy-id:controllers:path"
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) colon = line.find(':', colon + 1);
    if (colon == std::string_view::npos) return;
    here = {};
    for_each_piece(line.substr(colon + 1), '/', [&](std::string_view component) {
      if (auto id = container_id_in(component); !id.empty()) here.id = std::string(id);
      if (auto uid = pod_uid_in(component); !uid.empty()) here.pod_uid = uid;
    });
    if (!here.id.empty())
      found = here;
    else if (found.pod_uid.empty())
      found.pod_uid = here.pod_uid;
  });
  return found;
}

Container container_of_pid(uint32_t pid, const std::string& comm) {
  if (pid == 0) return {};
  const std::string dir = "/proc/" + std::to_string(pid);
  std::string their_comm;
  if (!std::getline(std::ifstream(dir + "/comm"), their_comm) || their_comm != comm) return {};
  std::ifstream in(dir + "/cgroup");
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return container_from_cgroups(ss.str());
}

}  // namespace svctrace
