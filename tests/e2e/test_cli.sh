#!/usr/bin/env bash
# Bad input: one clear line on stderr, exit status 2, and nothing already on disk is touched.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

echo "previous report" >"$WORK/keep.json"

# args | expected exit | text the error line must contain
cases=(
  "--cidr 172.24.0.1/13|2|host bits set; did you mean 172.24.0.0/13?"
  "--cidr 172.24.0.0/33|2|prefix length must be 0..32"
  "--cidr=|2|--cidr"
  "--cidr|2|--cidr"
  "--cidr kubernetes|2|is not an IP address"
  "--cidr 172.24.0.0/112|2|prefix length must be 0..32"
  "--cidr fd00:10:96::1/112|2|did you mean fd00:10:96::/112?"
  "|2|--cidr is required"
  "--cidr 172.24.0.0/13 --duration -1|2|--duration: must be a positive number of seconds, not \"-1\""
  "--cidr 172.24.0.0/13 --duration 0|2|--duration: must be a positive number of seconds, not \"0\""
  "--cidr 172.24.0.0/13 --duration abc|2|--duration: must be a positive number of seconds, not \"abc\""
  "--cidr 172.24.0.0/13 --json --stats-interval 0|2|--stats-interval: must be a positive number of seconds"
  "--cidr 172.24.0.0/13 --no-such-flag|2|no-such-flag"
  "--cidr 172.24.0.0/13 --netns no-such-ns-$$|2|network namespace \"no-such-ns-$$\" not found"
  "--cidr 172.24.0.0/13 --report /nonexistent-dir/r.json|2|directory /nonexistent-dir does not exist"
  "--cidr 172.24.0.0/13 --report $WORK/keep.json/r.json|2|--report: $WORK/keep.json is not a directory"
  "--cidr 172.24.0.0/13 --report /etc/hosts/x.json|2|--report: /etc/hosts is not a directory"
  "--cidr 172.24.0.0/13 --report $WORK|2|--report: $WORK is a directory, not a file"
  "--cidr 172.24.0.0/13 --ready-file $WORK/keep.json/ready|2|--ready-file: $WORK/keep.json is not a directory"
  "replay --report /etc/hosts/x.json $E2E_ROOT/tests/recordings/incident.ndjson|2|--report: /etc/hosts is not a directory"
  "--cidr 172.24.0.0/13 --pcap /nonexistent-dir/p.pcapng|2|--pcap: directory /nonexistent-dir does not exist"
  "replay --pcap $WORK/keep.json/p.pcapng $E2E_ROOT/tests/recordings/incident.ndjson|2|--pcap: $WORK/keep.json is not a directory"
  "--cidr 172.24.0.0/13 --pcap-max-packets 0|2|--pcap-max-packets"
  "--cidr 172.24.0.0/13 --route-hook kprobe|2|--route-hook"
  "--cidr 172.24.0.0/13 --metrics 9100|2|--metrics: \"9100\" is not ADDR:PORT"
  "--cidr 172.24.0.0/13 --metrics localhost:9100|2|names are not resolved"
  "--cidr 172.24.0.0/13 --metrics ::1:9100|2|an IPv6 address goes in brackets: [::1]:9100"
  "--cidr 172.24.0.0/13 --metrics 127.0.0.1:0|2|port \"0\" is not a number in 1..65535"
  "--cidr 172.24.0.0/13 --hooks --metrics 127.0.0.1:9100|2|--metrics: serves metrics while tracing"
  "check --cidr 172.24.0.0/13 --metrics 127.0.0.1:9100|2|not with check, replay or --hooks"
)
for c in "${cases[@]}"; do
  IFS='|' read -r args want_rc want_text <<<"$c"
  rc=0
  # shellcheck disable=SC2086  # args are split on purpose
  err=$(timeout 10 "$SVCTRACE" $args 2>&1 >/dev/null) || rc=$?
  [[ $rc == "$want_rc" ]] || fail "svctrace $args: exit $rc, expected $want_rc (stderr: $err)"
  [[ $(wc -l <<<"$err") == 1 ]] || fail "svctrace $args: expected one line on stderr, got: $err"
  [[ $err == *"$want_text"* ]] || fail "svctrace $args: stderr '$err' lacks '$want_text'"
done

[[ $("$SVCTRACE" --help | sed -n '/^Exit status:$/,$s/^  \([0-3]\)  .*/\1/p' | tr -d '\n') == 0123 ]] || fail "--help documents the exit codes 0 to 3"

# The subcommands' help: the options each takes, its own examples and exit codes, not the main ones.
# help_has SUBCOMMAND REGEX WHAT / help_lacks SUBCOMMAND REGEX WHAT
help_has() { "$SVCTRACE" "$1" --help | grep -qE -- "$2" || fail "$1 --help lacks $3: $("$SVCTRACE" "$1" --help)"; }
help_lacks() { "$SVCTRACE" "$1" --help | grep -qE -- "$2" && fail "$1 --help has $3: $("$SVCTRACE" "$1" --help)"; true; }
for opt in --cidr --netns --json --iptables-save --nft-json; do help_has check "^  $opt " "$opt"; done
help_has check '^  svctrace check --cidr' "an example of check"
help_lacks check '^  svctrace --cidr' "the main help's examples"
help_lacks check '^  --(report|duration|record) ' "options check does not take"
for opt in --json --report; do help_has replay "^  $opt " "$opt"; done
help_has replay '^  svctrace replay ' "an example of replay"
help_lacks replay '^  svctrace (--cidr|check)' "the main help's examples"
for sub in check replay; do
  [[ $("$SVCTRACE" "$sub" --help | sed -n '/^Exit status:$/,$s/^  \([0-3]\)  .*/\1/p' | tr -d '\n') == 0123 ]] ||
    fail "$sub --help documents the exit codes 0 to 3"
done
# What the subcommand's help lists works after it, as before it.
out=$("$SVCTRACE" --json replay "$E2E_ROOT/tests/recordings/incident.ndjson" --report "$WORK/a.json" --report "$WORK/b.json" 2>/dev/null) || true
[[ -s $WORK/a.json && -s $WORK/b.json ]] || fail "replay FILE --report A --report B did not write both reports"
head -n 1 <<<"$out" | jq -e '.type == "replay"' >/dev/null || fail "--json before replay: stdout is not NDJSON"
"$SVCTRACE" --version | grep -qE '^svctrace [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version prints the version"
[[ $(cat "$WORK/keep.json") == "previous report" ]] || fail "an existing file was touched"
pass
