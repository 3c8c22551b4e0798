// How the human output looks on a terminal: colour when stdout is one (off with NO_COLOR or
// --color never), and a status line on stderr while tracing, only when stderr is a terminal.
#pragma once
#include <string>
#include <string_view>

namespace svctrace {

enum class ColorMode { Auto, Always, Never };

// Auto: stdout (fd) is a terminal and NO_COLOR (no-color.org) is unset or empty.
bool use_color(ColorMode mode, int fd);

// Colours human output lines by the mark they start with: ✗ failures red, ✓ answered green,
// ⟳ routing changes yellow, and a diagnosis' "fix:" line bold.
std::string paint(std::string_view lines);

// One line at the bottom of the terminal, redrawn in place; cleared before other output.
class StatusLine {
 public:
  explicit StatusLine(bool enabled) : enabled_(enabled) {}
  ~StatusLine() { clear(); }
  bool enabled() const { return enabled_; }
  void show(const std::string& text);
  void clear();

 private:
  bool enabled_;
  bool shown_ = false;
};

}  // namespace svctrace
