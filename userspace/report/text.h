// Words for a person: a count with its noun in the right number, and lines wrapped at a word to fit
// a width, for the human output (human_output.h) and the status line.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace svctrace {

// "1 flow", "2 flows", "0 flows"; with an irregular plural: counted(1, "diagnosis", "diagnoses").
std::string counted(uint64_t n, std::string_view singular);
std::string counted(uint64_t n, std::string_view singular, std::string_view plural);

// The width human lines are wrapped to when it is not the terminal's: a terminal narrower than
// this wraps to its own width.
constexpr size_t kWrapWidth = 100;

// Each line of `lines` wider than `width` columns (a UTF-8 character is one column, a tab runs to the
// next multiple of 8), broken at spaces: never inside a word, so punctuation stays with its word, and
// never inside "double quotes" or `backticks`, so a quoted route, rule or command stays whole. A word
// wider than the width stands alone on its line. An indented line continues at its own indent, a line
// that starts at column 0 (a headline) continues at 4 spaces. Left as they are: commands to copy
// (lines that start `  fix: ` or `  check: `) and lines indented by 4 or more (a file's contents).
// An indented line that ends with ',' and is itself too wide is joined with the next line of the same
// indent before wrapping, so the end of its sentence does not stand alone. width 0: no wrapping.
std::string wrap(std::string_view lines, size_t width);

}  // namespace svctrace
