#include "report/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "report/text.h"

namespace svctrace {

namespace {
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kBold = "\x1b[1m";
constexpr const char* kReset = "\x1b[0m";

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
}  // namespace

bool use_color(ColorMode mode, int fd) {
  if (mode != ColorMode::Auto) return mode == ColorMode::Always;
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(fd) && !(no_color && *no_color);
}

size_t wrap_width(int fd) {
  winsize ws{};
  if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return std::clamp<size_t>(ws.ws_col, 40, kWrapWidth);
  return kWrapWidth;
}

std::string paint(std::string_view lines) {
  std::string out;
  const char* last = nullptr;  // the colour of the line before
  while (!lines.empty()) {
    size_t end = lines.find('\n');
    std::string_view line = lines.substr(0, end);
    const char* color = starts_with(line, "✗")                        ? kRed
                        : starts_with(line, "✓")                      ? kGreen
                        : starts_with(line, "⟳")                      ? kYellow
                        : starts_with(line, "  fix:")                  ? kBold
                        : last == kRed && starts_with(line, "    ") ? kRed  // a wrapped failure's rest
                                                                       : nullptr;
    last = color;
    if (color) {
      out += color;
      out += line;
      out += kReset;
    } else {
      out += line;
    }
    if (end == std::string_view::npos) break;
    out += '\n';
    lines.remove_prefix(end + 1);
  }
  return out;
}

void StatusLine::show(const std::string& text) {
  if (!enabled_) return;
  std::fprintf(stderr, "\r%s\x1b[K", text.c_str());
  std::fflush(stderr);
  shown_ = true;
}

void StatusLine::clear() {
  if (!shown_) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace svctrace
