// Output as NDJSON: one object per line, each with "type" (docs/json.md), for scripts and tests.
#pragma once
#include "report/output.h"

namespace svctrace {

class NdjsonOutput : public Output {
 public:
  using Output::Output;
  void start(const Start& s) override;
  void replay(const std::string& file, const nlohmann::json& recorded) override;
  void change(const RoutingChange& c, double at_s) override;
  void flow(const Flow& f, RoutingView& names) override;
  void outcome(const Flow& f, RoutingView& names) override;
  void diagnosis(const Diagnosis& d, const Grouped& g) override;
  void stats(nlohmann::json stats) override;
  void services(const nlohmann::json& rows) override;
  void summary(const Summary& s) override;
  void note(const std::string& text) override;
  void check(const ServicePair& p, const CheckResult& r) override;
};

}  // namespace svctrace
