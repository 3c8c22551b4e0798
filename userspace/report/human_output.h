// Output as lines for a person: a line per routing change, a few per diagnosis (after the failed flow's
// own line), a line per service each stats interval, a table of the services at the end, and with
// --all-flows a line per flow and outcome; coloured when asked (terminal.h). The diagnoses, the banner
// and the closing line are wrapped at a word to `width` columns (text.h); the line of one flow,
// outcome, service, change or `check` pair, and the table's rows, stay whole for grep.
#pragma once
#include "report/output.h"
#include "report/text.h"

namespace svctrace {

class HumanOutput : public Output {
 public:
  explicit HumanOutput(bool color, std::FILE* to = stdout, size_t width = kWrapWidth)
      : Output(to), color_(color), width_(width) {}
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

 private:
  void say(const std::string& lines);  // coloured if asked
  void service_table(const nlohmann::json& services);
  bool color_;
  size_t width_;  // 0: lines are not wrapped
};

}  // namespace svctrace
