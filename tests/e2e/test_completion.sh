#!/usr/bin/env bash
# The bash completion (packaging/svctrace.bash), driven the way bash drives it (COMP_WORDS, COMP_CWORD,
# then the function `complete -F` registered) in a clean `bash --norc`: every flag of --help and of
# `check --help` is offered, --route-hook and --nat-hook offer their choices, --netns the namespaces
# `ip netns list` shows (one is created for the test), FILE options complete file names.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

completion=$E2E_ROOT/packaging/svctrace.bash
ip netns add "$NODE" # named like the lab's node, so the harness removes it on exit
touch "$WORK/report-target.json"

# complete WORD...: the candidates bash would offer for the last word of `svctrace WORD...`, sorted,
# one per line. Runs the completion function the script registers for svctrace.
complete_words() {
  SVCTRACE_BIN=$SVCTRACE COMPLETION=$completion bash --norc --noprofile -c '
    source "$COMPLETION"
    fn=$(complete -p svctrace | sed -n "s/.*-F \([^ ]*\) svctrace$/\1/p")
    [[ -n $fn ]] || { echo "NO-COMPLETION-REGISTERED"; exit 0; }
    COMP_WORDS=("$SVCTRACE_BIN" "$@")
    COMP_CWORD=$#
    COMPREPLY=()
    "$fn" svctrace "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$@"
}
# expect WHAT EXPECTED WORD...: the candidates for WORD... are exactly EXPECTED (space-separated).
expect() {
  local what=$1 want=$2 got
  shift 2
  got=$(complete_words "$@" | tr '\n' ' ' | sed 's/ $//')
  want=$(tr ' ' '\n' <<<"$want" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
  [[ $got == "$want" ]] || fail "completion of $what (svctrace $*): expected '$want', got '$got'"
}

# Every flag --help lists (and check's), no more.
long_flags() { sed -n 's/^  \(-[^ ]*\).*/\1/p' | tr ',' '\n' | grep -- '^--' | sort -u | tr '\n' ' '; }
main_flags=$("$SVCTRACE" --help | long_flags)
[[ $(wc -w <<<"$main_flags") -ge 10 ]] || fail "found only these long flags in --help: $main_flags"
expect "long flags" "$main_flags" --
# After the subcommand: its flags and the main ones (check takes both).
expect "long flags after check" "$( ("$SVCTRACE" --help; "$SVCTRACE" check --help) | long_flags)" check --
expect "a flag prefix" "--route-hook" --ro
expect "subcommands" "check" ch
expect "the replay subcommand" "replay" rep
expect "replay's recording: file names" "$WORK/report-target.json" replay "$WORK/report-t"
expect "check's own flag" "--iptables-save" --cidr 10.96.0.0/12 check --ipt
expect "--route-hook values" "auto fexit tp_btf raw_tp" --route-hook ""
expect "--route-hook value prefix" "tp_btf" --cidr 10.96.0.0/12 --route-hook t
expect "--route-hook=value (bash splits at =)" "raw_tp" --route-hook = r
expect "--nat-hook values" "auto netfilter fexit net_dev_queue" --nat-hook ""
expect "--netns names from ip netns list" "$NODE" --netns "$PREFIX"
expect "--netns paths" "/run/netns/$NODE" --netns "/run/netns/$PREFIX"
expect "--report files" "$WORK/report-target.json" --report "$WORK/report-t"
expect "--ready-file files" "$WORK/report-target.json" --ready-file "$WORK/report-t"
expect "--iptables-save files" "$WORK/report-target.json" check --iptables-save "$WORK/report-t"
expect "--cidr (no guess)" "" --cidr ""
expect "after a flag that takes no value" "--json" --json --js

pass
