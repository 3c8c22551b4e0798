#!/usr/bin/env bash
# svctrace on a real terminal (tmux): a status line on stderr while tracing with the live table of
# services under it, failures in red, the summary table at exit with both gone, long lines wrapped
# at a word to the terminal's 110 columns; and no colour or status line when the output is a file, or
# with NO_COLOR.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

session=svctrace-e2e$$
ready=$WORK/ready
kill_tmux() { tmux kill-session -t "$session" 2>/dev/null || true; }
on_exit kill_tmux

lab up >/dev/null
_BPF_BEFORE=$(_bpf_ids_existing)
tmux new-session -d -s "$session" -x 110 -y 45 \
  "$SVCTRACE --netns $NODE --cidr $CIDR --ready-file $ready --duration 60; echo \"svctrace exited \$?\"; sleep 30"
# screen [-e]: what the terminal shows now (-e: with the colour escapes).
screen() { tmux capture-pane -p -t "$session" "$@"; }
# wait_screen REGEX SECONDS [-e]
wait_screen() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    screen "${@:3}" | grep -qE -- "$1" && return 0
    sleep 0.05
  done
  return 1
}
for ((i = 0; i < 400; i++)); do [[ -e $ready ]] && break; sleep 0.05; done
[[ -e $ready ]] || fail "svctrace under tmux was not ready within 20 s: $(screen)"

wait_screen '^svctrace [0-9]+ s · [0-9]+ flows? · [0-9]+ events/s · 0 lost · [0-9]+ hooks? live' 5 ||
  fail "no status line on the terminal: $(screen)"
lab_connect 3 >/dev/null && fail "connect through the broken lab should fail"
wait_screen 'fix \(checked against [0-9]+ service pairs?\): ip route add 172.24.0.0/13' 10 || fail "no diagnosis on the terminal: $(screen)"
esc=$'\x1b'
wait_screen "${esc}\[31m✗ 10.141.13.182" 2 -e || fail "the failure is not red: $(screen -e | grep '✗' | cat -v)"
# The live table of services, under the status line.
wait_screen '^✗ 172\.24\.0\.1:443 → 10\.0\.0\.8:6443 out enslf0: 1 flow \([0-9.]+/s\), 0% answered, 1 failed' 5 ||
  fail "no live row for the failing service under the status line: $(screen)"

tmux send-keys -t "$session" C-c
wait_screen '^svctrace exited 3$' 10 || fail "svctrace did not exit 3 on Ctrl-C: $(screen)"
final=$(screen)
grep -qE '^  service +backend +egress +flows +ok +fail +verdict$' <<<"$final" ||
  fail "no summary table at exit: $final"
grep -qE '^✗ 172\.24\.0\.1:443 +10\.0\.0\.8:6443 +enslf0 +1 +0 +1 +asymmetric_source$' <<<"$final" ||
  fail "the table has no row for the failing service: $final"
grep -q 'events/s' <<<"$final" && fail "the status line was left on the screen: $final"
grep -q '% answered' <<<"$final" && fail "the live table was left on the screen: $final"
# At 110 columns svctrace wraps its long lines itself, at a word: none is wider than the terminal
# (capture-pane -J joins the rows the terminal wrapped), and no "." is left on a row of its own.
too_wide=$(screen -J | LC_ALL=C.UTF-8 bash -c 'while IFS= read -r l; do ((${#l} > 110)) && echo "$l"; done; true')
[[ -z $too_wide ]] || fail "lines wider than the 110-column terminal: $too_wide"
grep -qE '^ *\.$' <<<"$final" && fail "a lone full stop on a line of its own: $final"
# The banner, the flow lines, the table and the summary fit 80 columns (the diagnosis' headline and
# explanation lines are allowed to wrap).
wide=$(grep -v -e '^  ' -e '^✗ 10\.141' <<<"$final" | LC_ALL=C.UTF-8 bash -c 'while IFS= read -r l; do ((${#l} > 80)) && echo "$l"; done; true')
[[ -z $wide ]] || fail "lines wider than 80 columns: $wide"

# Output to a file: no colour, no status line (stderr is a file too). NO_COLOR with --color auto as well.
NO_COLOR=1 "$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --duration 0.5 >"$WORK/plain.out" 2>"$WORK/plain.err" || true
grep -q "$esc" "$WORK/plain.out" "$WORK/plain.err" && fail "escape codes in output to a file"
"$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --duration 0.3 --color always >"$WORK/forced.out" 2>&1 || true
grep -q 'tracing' "$WORK/forced.out" || fail "--color always run printed nothing: $(cat "$WORK/forced.out")"
pass
