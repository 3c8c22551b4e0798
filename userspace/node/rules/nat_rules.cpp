#include "node/rules/nat_rules.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "node/rules/ipvs.h"
#include "node/rules/nat_program.h"


namespace svctrace {

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

std::string must_read(const std::string& path) {
  auto text = read_file(path);
  if (!text) throw RulesError(fmt::format("{}: cannot be read", path));
  return *text;
}

// Whether `tool` is an executable in a directory of $PATH, as the shell that runs it will look.
bool on_path(const std::string& tool) {
  const char* env = std::getenv("PATH");
  std::string_view path = env ? env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  while (true) {
    size_t colon = path.find(':');
    std::string dir(path.substr(0, colon));
    if (access(((dir.empty() ? "." : dir) + "/" + tool).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    path.remove_prefix(colon + 1);
  }
}

// `tool args`'s stdout; nullopt when the tool is absent or fails, and then, if it was installed, a
// line in `unreadable` saying how it failed.
std::optional<std::string> run(const std::string& tool, const std::string& args, spdlog::level::level_enum absent_level,
                               const char* what, std::vector<std::string>& unreadable) {
  if (!on_path(tool)) {
    spdlog::log(absent_level, "{} is not installed (not on PATH): {} are not read", tool, what);
    return std::nullopt;
  }
  std::string cmd = tool + " " + args;
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) {
    spdlog::warn("`{}` could not be started: {} are not checked", cmd, what);
    unreadable.push_back(fmt::format("`{}` could not be started", cmd));
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int status = pclose(p);
  if (status != 0) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    spdlog::warn("`{}` failed (exit status {}): {} are not checked", cmd, code, what);
    unreadable.push_back(fmt::format("`{}` exit {}", cmd, code));
    return std::nullopt;
  }
  return text;
}

// Whether IPVS has a virtual server in this namespace: /proc/net/ip_vs, there only while ip_vs is
// loaded, lists them after its three header lines.
bool ipvs_has_virtual_servers() {
  auto table = read_file("/proc/net/ip_vs");
  if (!table) return false;
  std::istringstream lines(*table);
  std::string line;
  for (int n = 0; std::getline(lines, line); n++)
    if (n >= 3 && !line.empty() && line.front() != ' ') return true;
  return false;
}

// IPVS's table where IPVS is in use; nullopt elsewhere.
std::optional<std::string> read_ipvs(spdlog::level::level_enum absent_level, std::vector<std::string>& unreadable) {
  if (!ipvs_has_virtual_servers()) return std::nullopt;
  if (!on_path("ipvsadm")) {
    unreadable.push_back("IPVS has virtual servers (/proc/net/ip_vs) but ipvsadm is not installed");
    return std::nullopt;
  }
  return run("ipvsadm", "-Ln --exact", absent_level, "IPVS's virtual servers", unreadable);
}

}  // namespace

NatRules read_nat_rules(const std::string& iptables_save_file, const std::string& nft_json_file,
                        spdlog::level::level_enum absent_level) {
  NatRules rules;
  if (!iptables_save_file.empty() || !nft_json_file.empty()) {
    if (!iptables_save_file.empty()) rules.iptables_save = must_read(iptables_save_file);
    if (!nft_json_file.empty()) rules.nft_json = must_read(nft_json_file);
    return rules;
  }
  for (auto [tool, what] : {std::pair{"iptables-save", "the IPv4 iptables rules"},
                            std::pair{"ip6tables-save", "the IPv6 iptables rules"}}) {
    if (auto text = run(tool, "-t nat", absent_level, what, rules.unreadable))
      rules.iptables_save = rules.iptables_save.value_or("") + *text;
  }
  rules.nft_json = run("nft", "-j list ruleset", absent_level, "the nftables rules", rules.unreadable);
  rules.ipvsadm = read_ipvs(absent_level, rules.unreadable);
  return rules;
}

std::string iptables_save_file_error(const std::string& path) {
  try {
    validate_iptables_save(must_read(path));
    return {};
  } catch (const RulesError& e) {
    return fmt::format("{}: {}", path, e.what());
  }
}

std::string nft_json_file_error(const std::string& path) {
  try {
    (void)service_pairs_from_nft_json(must_read(path), {});
    return {};
  } catch (const RulesError& e) {
    return fmt::format("{}: {}", path, e.what());
  }
}

std::vector<ServicePair> service_pairs(const NatRules& rules, const std::vector<Cidr>& cidrs) {
  std::vector<RulesRead> read;
  if (rules.iptables_save) {
    // iptables-nft will not print a table that also holds rules added with nft, and says so.
    if (rules.iptables_save->find("is incompatible, use 'nft' tool") != std::string::npos)
      spdlog::warn("iptables-save cannot print a NAT table that also holds rules added with nft: its iptables rules "
                   "are not checked (its nft rules are, when nft is installed)");
    read.push_back(read_iptables_save(*rules.iptables_save, cidrs));
    spdlog::debug("iptables-save: {} service pairs", read.back().pairs.size());
  }
  if (rules.nft_json) {
    try {
      read.push_back(read_nft_json(*rules.nft_json, cidrs));
      spdlog::debug("nft: {} service pairs", read.back().pairs.size());
    } catch (const RulesError& e) {
      spdlog::warn("nft's output is {}: the nftables rules are not checked", e.what());
    }
  }
  if (rules.ipvsadm) {
    // IPVS translates after the output hook's rules: no program of its own, the others' marks and
    // masquerades apply to its pairs.
    read.push_back({service_pairs_from_ipvsadm(*rules.ipvsadm, cidrs), NatProgram{kIpvsRules, {}, {}}});
    spdlog::debug("ipvsadm: {} service pairs", read.back().pairs.size());
  }
  std::vector<std::vector<ServicePair>> sources;
  std::vector<const NatProgram*> programs;
  for (const RulesRead& r : read) {
    sources.push_back(r.pairs);
    programs.push_back(&r.program);
  }
  std::vector<ServicePair> pairs = merge_service_pairs(sources);
  annotate_source_nat(pairs, programs);
  return pairs;
}

nlohmann::json service_pair_json(const ServicePair& p) {
  nlohmann::json found = nlohmann::json::array();
  for (const RuleOrigin& o : p.found_in) found.push_back({{"rules", o.rules}, {"chain", o.chain}});
  nlohmann::json service = {{"proto", proto_name(p.proto)}, {"ip", p.service_ip.str()}, {"port", p.service_port}};
  if (!p.service.empty()) service["name"] = p.service;
  nlohmann::json backend = nullptr;  // an IPVS virtual server with no real server has none
  if (p.backend_ip.is_set())
    backend = {{"ip", p.backend_ip.str()}, {"port", p.backend_port ? p.backend_port : p.service_port}};
  return {{"service", service},
          {"backend", backend},
          {"chain", p.chain},
          {"found_in", found}};
}

std::string found_in_text(const ServicePair& p) {
  if (p.found_in.empty()) return p.chain;
  std::string out;
  for (const RuleOrigin& o : p.found_in) out += (out.empty() ? "" : ", ") + o.rules + " " + o.chain;
  return out;
}

nlohmann::json nat_rules_config(const NatRules& rules, const std::vector<Cidr>& cidrs) {
  nlohmann::json pairs = nlohmann::json::array();
  for (const ServicePair& p : service_pairs(rules, cidrs)) pairs.push_back(service_pair_json(p));
  return {{"nat_rules", rules.iptables_save.value_or("")},
          {"ipvs", rules.ipvsadm ? nlohmann::json(*rules.ipvsadm) : nlohmann::json(nullptr)},
          {"nft_ruleset", rules.nft_json ? nlohmann::json(*rules.nft_json) : nlohmann::json(nullptr)},
          {"service_pairs", pairs}};
}

}  // namespace svctrace
