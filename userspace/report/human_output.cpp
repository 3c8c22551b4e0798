#include "report/human_output.h"

#include <fmt/format.h>

#include <algorithm>

#include "node/rules/nat_rules.h"
#include "report/terminal.h"

namespace svctrace {

using nlohmann::json;

void HumanOutput::say(const std::string& lines) { add(color_ ? paint(lines) : lines); }

void HumanOutput::start(const Start& s) {
  add(wrap(fmt::format("svctrace: tracing {} in {} ({}); Ctrl-C stops\n", fmt::join(s.cidr_args, ", "),
                       s.netns_name.empty() ? "this network namespace" : "netns " + s.netns_name,
                       counted(s.hooks.size(), "hook")),
           width_));
  if (!s.connect_programs_text.empty())
    note(fmt::format("connects to a Service IP may be rewritten to a backend by cgroup BPF before any packet "
                     "exists (socket-level load balancing): {}. Such connections never reach svctrace's "
                     "hooks as packets to {}",
                     s.connect_programs_text, fmt::join(s.cidr_args, ", ")));
}

void HumanOutput::note(const std::string& text) { add(wrap("note: " + text, width_)); }

void HumanOutput::replay(const std::string&, const json&) {}  // the lines that follow say it all

void HumanOutput::change(const RoutingChange& c, double) {
  say(fmt::format("⟳ {} {}: {}", name(c.kind), c.deleted ? "deleted" : "added", c.what));
}

void HumanOutput::flow(const Flow& f, RoutingView& names) { say(human_flow(f, names)); }

void HumanOutput::outcome(const Flow& f, RoutingView&) { say(human_outcome(f)); }

// The first of a group in full, the others in one line each.
void HumanOutput::diagnosis(const Diagnosis& d, const Grouped& g) {
  if (g.first)
    say(wrap(human_diagnosis(d), width_));
  else
    say(wrap(fmt::format("✗ {}:{} → {}:{}: same as above ({}×)", d.flow.src.str(), d.flow.sport, d.flow.dst.str(),
                         d.flow.dport, g.count),
             width_));
}

void HumanOutput::stats(json) {}  // the status line (terminal.h) shows them while tracing

// The services that had flows in the interval, a line each.
void HumanOutput::services(const json& rows) {
  for (const auto& row : rows)
    if (row.value("flows_in_interval", 0) > 0) say(human_service_row(row));
}

void HumanOutput::summary(const Summary& s) {
  std::string states;
  for (const auto& [state, n] : s.by_state) states += fmt::format("{}{} {}", states.empty() ? "" : ", ", n, state);
  service_table(s.services);
  say(wrap(fmt::format("done in {:.1f} s: {}{}{}{}, {}; {}, {} lost, {} evicted", s.duration_s,
                       counted(s.flows_in_report, "flow"), states.empty() ? "" : " (", states, states.empty() ? "" : ")",
                       counted(s.diagnoses, "diagnosis", "diagnoses"), counted(s.events, "event"), s.lost, s.evicted),
           width_));
}

// Columns as wide as their widest cell, so that the usual rows fit an 80-column terminal.
void HumanOutput::service_table(const json& services) {
  if (services.empty()) return;
  std::vector<std::vector<std::string>> cells = {{"service", "backend", "egress", "flows", "ok", "fail", "verdict"}};
  for (const auto& row : services)
    cells.push_back({row.value("service", "") + (row.contains("service_name") ? " " + row.value("service_name", "") : ""),
                     row["backend"], row["egress_dev"], std::to_string(row["flows"].get<int>()),
                     std::to_string(row["answered"].get<int>()), std::to_string(row["failed"].get<int>()),
                     row["verdict"]});
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& line : cells)
    for (size_t i = 0; i < line.size(); i++) width[i] = std::max(width[i], line[i].size());
  std::string table;
  for (size_t r = 0; r < cells.size(); r++) {
    // Rows with failures start with the failure mark, so they are coloured as failures.
    bool failed = r > 0 && services[r - 1]["failed"].get<int>() > 0;
    std::string line = failed ? "✗" : " ";
    for (size_t i = 0; i < cells[r].size(); i++) {
      bool number = i >= 3 && i <= 5;
      line += " " + (number ? fmt::format("{:>{}}", cells[r][i], width[i]) : fmt::format("{:<{}}", cells[r][i], width[i]));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    table += line + "\n";
  }
  say(table);
}

// Not coloured: a line per pair, and the fix under a pair that would fail.
void HumanOutput::check(const ServicePair& p, const CheckResult& r) {
  uint16_t backend_port = p.backend_port ? p.backend_port : p.service_port;
  const Diagnosis& d = r.diagnosis;
  std::string backend = p.backend_ip.is_set() ? fmt::format(" → {}:{}", p.backend_ip.str(), backend_port) : "";
  std::string pair_text = fmt::format("{} {}:{}{}{} ({})", proto_name(p.proto), p.service_ip.str(), p.service_port,
                                      p.service.empty() ? "" : " " + p.service, backend, found_in_text(p));
  // The node's source NAT of that source: "masqueraded to 10.0.0.12 (iptables-save KUBE-POSTROUTING)".
  std::string nat;
  if (r.source_nat)
    nat = fmt::format("{} to {} ({} {})", r.source_nat->action == SnatAction::Snat ? "SNAT'd" : "masqueraded",
                      r.seen_source.str(), r.source_nat->rules, r.source_nat->chain);
  if (r.ok()) {
    add(fmt::format("✓ {}: source {} out {}{}\n", pair_text, r.source.str(), d.egress_dev, nat.empty() ? "" : ", " + nat));
  } else if (d.verdict == Verdict::NoRoute || d.verdict == Verdict::NoEndpoints) {
    add(fmt::format("✗ {}: {}\n", pair_text, d.reason));
  } else {
    add(fmt::format("✗ {}: source {} chosen by route \"{}\" (table {}), but {} is reached via {}, whose address is {}\n",
                    pair_text, r.source.str(), d.source_route ? format_route(*d.source_route) : "?",
                    d.source_route ? table_name(d.source_route->table) : "?", p.backend_ip.str(), d.egress_dev,
                    d.expected_source.str()));
    // The node's source NAT: the address it gives this source, or the sources it would rewrite.
    if (!nat.empty()) add(fmt::format("  {}, which {} does not own either\n", nat, d.egress_dev));
    else if (auto only = rewritten_only_text(p.source_nat); !only.empty()) add(fmt::format("  source NAT: {}\n", only));
    add(fix_lines(d));
  }
}

}  // namespace svctrace
