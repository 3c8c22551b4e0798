// How the human output looks on a terminal: colour when stdout is one (off with NO_COLOR or
// --color never), and a status line on stderr while tracing, only when stderr is a terminal.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace svctrace {

enum class ColorMode { Auto, Always, Never };

// Auto: stdout (fd) is a terminal and NO_COLOR (no-color.org) is unset or empty.
bool use_color(ColorMode mode, int fd);

// The width the human output is wrapped to (text.h): kWrapWidth, or the terminal's when fd is a
// terminal narrower than that (40 columns at the least).
size_t wrap_width(int fd);

// Colours human output lines by the mark they start with: ✗ failures red (and the lines that
// continue a wrapped one, indented by 4), ✓ answered green, ⟳ routing changes yellow, and a
// diagnosis' "fix:" line bold.
std::string paint(std::string_view lines);

// A few lines at the bottom of the terminal, redrawn in place; cleared before other output. Each
// line should fit the terminal's width (fit_width): a line that wraps would be left behind.
class StatusLine {
 public:
  explicit StatusLine(bool enabled) : enabled_(enabled) {}
  ~StatusLine() { clear(); }
  bool enabled() const { return enabled_; }
  void show(const std::string& lines);  // lines separated by '\n', without a last one
  void clear();

 private:
  bool enabled_;
  size_t shown_ = 0;  // lines on the screen
};

// line cut to at most `columns` characters (UTF-8 code points, each one column wide, as the marks
// svctrace prints are), with "…" where it was cut.
std::string fit_width(std::string_view line, size_t columns);

}  // namespace svctrace
