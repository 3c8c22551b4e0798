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

void StatusLine::show(const std::string& lines) {
  if (!enabled_) return;
  clear();
  std::fputs(lines.c_str(), stderr);
  std::fflush(stderr);
  shown_ = 1 + static_cast<size_t>(std::count(lines.begin(), lines.end(), '\n'));
}

// Up to the first line shown, then everything below it erased.
void StatusLine::clear() {
  if (!shown_) return;
  if (shown_ > 1) std::fprintf(stderr, "\x1b[%zuA", shown_ - 1);
  std::fputs("\r\x1b[J", stderr);
  std::fflush(stderr);
  shown_ = 0;
}

std::string fit_width(std::string_view line, size_t columns) {
  if (columns == 0) return "";
  size_t points = 0, last_kept_end = 0;  // code points so far; where the (columns-1)th ends
  for (size_t i = 0; i < line.size(); i++) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;  // inside a code point
    if (points == columns - 1) last_kept_end = i;
    if (points++ == columns) return std::string(line.substr(0, last_kept_end)) + "…";
  }
  return std::string(line);
}

}  // namespace svctrace
