// Words for a person (report/text.h): counts in the right number, and long lines wrapped at a word.
// How the human output uses them is in test_output.cpp.
#include <catch2/catch.hpp>

#include <string>

#include "report/text.h"

using namespace svctrace;

TEST_CASE("a count of one takes the singular", "[text]") {
  CHECK(counted(1, "flow") == "1 flow");
  CHECK(counted(0, "flow") == "0 flows");
  CHECK(counted(2, "flow") == "2 flows");
  CHECK(counted(1, "diagnosis", "diagnoses") == "1 diagnosis");
  CHECK(counted(3, "diagnosis", "diagnoses") == "3 diagnoses");
}

TEST_CASE("a line that fits is left as it is, a long one breaks at a space and keeps its indent", "[text]") {
  CHECK(wrap("  short line.\n", 20) == "  short line.\n");
  CHECK(wrap("  one two three four five six.", 16) == "  one two three\n  four five six.");
  // A headline continues indented by 4, under its text.
  CHECK(wrap("✗ alpha beta gamma delta", 15) == "✗ alpha beta\n    gamma delta");
  // A word wider than the width stands alone, uncut.
  CHECK(wrap("  a verylongwordindeed b", 10) == "  a\n  verylongwordindeed\n  b");
  CHECK(wrap("anything", 0) == "anything");
  // A number stays with the word after it, as with its unit.
  CHECK(wrap("✗ no SYN-ACK after 2 SYNs (1504 ms)", 30) == "✗ no SYN-ACK after 2 SYNs\n    (1504 ms)");
  CHECK(wrap("✗ no SYN-ACK after 2 SYNs (1504 ms)", 22) == "✗ no SYN-ACK after\n    2 SYNs (1504 ms)");
}

TEST_CASE("quotes, commands and file contents are never broken", "[text]") {
  CHECK(wrap("  chosen by route \"default via 10.141.13.1 dev enslf1\" (table main).", 40) ==
        "  chosen by route\n  \"default via 10.141.13.1 dev enslf1\"\n  (table main).");
  CHECK(wrap("  started after route `default via 10.0.0.1 dev enslf0` was deleted.", 30) ==
        "  started after route\n  `default via 10.0.0.1 dev enslf0`\n  was deleted.");
  const std::string fix = "  fix: ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12\n";
  CHECK(wrap(fix, 20) == fix);
  CHECK(wrap("  check: ip route get 10.141.13.182 from 10.0.0.8 iif eth0\n", 20) ==
        "  check: ip route get 10.141.13.182 from 10.0.0.8 iif eth0\n");
  CHECK(wrap("    [Route]\n    Destination=172.24.0.0/13 Source=10.0.0.12\n", 20) ==
        "    [Route]\n    Destination=172.24.0.0/13 Source=10.0.0.12\n");
  // A quote left open does not glue the rest of the line into one word.
  CHECK(wrap("  [na\"me 1] and some more words", 12) == "  [na\"me 1]\n  and some\n  more words");
}

TEST_CASE("a sentence continued on the next line is reflowed with it when it is too long", "[text]") {
  CHECK(wrap("  the first half of it,\n  the second half.\n", 18) == "  the first half\n  of it, the\n  second half.\n");
  // When the first line fits, the line break stays where it was.
  CHECK(wrap("  first,\n  the second half of it.\n", 18) == "  first,\n  the second half\n  of it.\n");
}
