#include "report/text.h"

#include <fmt/format.h>

#include <vector>

namespace svctrace {

std::string counted(uint64_t n, std::string_view singular, std::string_view plural) {
  return fmt::format("{} {}", n, n == 1 ? singular : plural);
}

std::string counted(uint64_t n, std::string_view singular) {
  std::string plural(singular);
  plural += 's';
  return counted(n, singular, plural);
}

namespace {

size_t indent_of(std::string_view line) {
  size_t i = line.find_first_not_of(' ');
  return i == std::string_view::npos ? line.size() : i;
}

// The column `text` ends at when it starts at column `col`.
size_t advance(size_t col, std::string_view text) {
  for (unsigned char c : text) {
    if (c == '\t')
      col = (col / 8 + 1) * 8;
    else if ((c & 0xC0) != 0x80)  // the first byte of a UTF-8 character
      col++;
  }
  return col;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Commands to copy and a file's contents: never broken.
bool left_whole(std::string_view line) {
  const size_t indent = indent_of(line);
  const std::string_view text = line.substr(indent);
  return indent >= 4 || (indent > 0 && (starts_with(text, "fix: ") || starts_with(text, "check: ")));
}

// "2", "(1504", "0.5": a number, which stays on one line with the word after it ("2 SYNs", "(1504 ms)").
bool is_number(std::string_view w) {
  if (!w.empty() && w.front() == '(') w.remove_prefix(1);
  if (w.empty() || w.front() == '.' || w.back() == '.') return false;
  size_t dots = 0;
  for (char c : w)
    if (c == '.' ? ++dots > 1 : c < '0' || c > '9') return false;
  return true;
}

// The words of `text`, split at spaces outside quotes (at every space when a quote is left open), a
// number and the word after it counted as one.
std::vector<std::string_view> words(std::string_view text, bool mind_quotes = true) {
  std::vector<std::string_view> out;
  size_t start = 0;
  char quote = 0;
  bool glue = false;  // the word before is a number: the next one joins it
  for (size_t i = 0; i <= text.size(); i++) {
    if (i == text.size() || (text[i] == ' ' && !quote)) {
      if (i > start) {
        std::string_view w = text.substr(start, i - start);
        if (glue)
          out.back() = std::string_view(out.back().data(), static_cast<size_t>(w.data() + w.size() - out.back().data()));
        else
          out.push_back(w);
        glue = !glue && is_number(w);
      }
      start = i + 1;
    } else if (mind_quotes && (quote ? text[i] == quote : text[i] == '"' || text[i] == '`')) {
      quote = quote ? 0 : text[i];
    }
  }
  return quote ? words(text, false) : out;
}

void wrap_line(std::string_view line, size_t width, std::string& out) {
  const size_t indent = indent_of(line);
  const std::string more(indent ? indent : 4, ' ');
  out.append(indent, ' ');
  size_t col = indent;
  bool first = true;  // the first word of an output line
  for (std::string_view w : words(line.substr(indent))) {
    size_t end = advance(first ? col : col + 1, w);
    if (!first && end > width) {
      out += '\n';
      out += more;
      col = more.size();
      first = true;
      end = advance(col, w);
    }
    if (!first) out += ' ';
    out += w;
    col = end;
    first = false;
  }
  out += '\n';
}

}  // namespace

std::string wrap(std::string_view text, size_t width) {
  if (width == 0) return std::string(text);
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); i++) {
    std::string line = lines[i];
    if (left_whole(line) || advance(0, line) <= width) {
      out += line + '\n';
      continue;
    }
    const size_t indent = indent_of(line);
    while (indent > 0 && line.back() == ',' && i + 1 < lines.size() && indent_of(lines[i + 1]) == indent &&
           !left_whole(lines[i + 1]))
      line += ' ' + lines[++i].substr(indent);
    wrap_line(line, width, out);
  }
  if (!text.empty() && text.back() != '\n') out.pop_back();
  return out;
}

}  // namespace svctrace
