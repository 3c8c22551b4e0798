#!/usr/bin/env bash
# --record saves a session; `svctrace replay` runs it offline, through the same correlator and
# diagnosis, to the same lines: the same flows, outcomes, routing changes and diagnoses. The replay
# runs after the lab is gone, in an empty network namespace, so nothing of the node can be consulted.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

REC=$WORK/capture.ndjson
lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --record "$REC" --duration 60
[[ -e $REC ]] && fail "the recording must appear only at exit (atomically), it exists already"

lab_connect 3 >/dev/null && fail "connect through the broken lab should fail"
wait_for_line '.type == "diagnosis"' 10 >/dev/null || fail "no diagnosis of the failed connect"
lab fix >/dev/null
wait_for_line '.type == "change" and .kind == "route"' 10 >/dev/null || fail "the fix route was not seen"
lab_connect 3 >/dev/null || fail "connect through the fixed lab should work"
wait_for_line '.type == "outcome" and .state == "answered"' 10 >/dev/null || fail "the answered connect was not seen"
stop_svctrace
assert_exit 3
[[ -s $REC ]] || fail "no recording written"
assert_json "$(head -n 1 "$REC")" '.type == "header" and .version == 1 and .cidrs == ["172.24.0.0/13"]' \
  "the recording starts with its header"
assert_json "$(tail -n 1 "$REC")" '.type == "end" and (.config.routes | length) > 0' \
  "the recording ends with the config snapshot"

lab down >/dev/null
replay_out=$WORK/replay.ndjson
rc=0
unshare --net "$SVCTRACE" replay "$REC" --json --all-flows --report "$WORK/replay-report.json" >"$replay_out" 2>"$WORK/replay.err" || rc=$?
((rc == 3)) || fail "replay exited $rc, not 3 (a diagnosis was made): $(cat "$WORK/replay.err")"

# The lines a person or a script acts on, live and replayed, must be the same; but for fix_proven: a
# replay has no kernel of the node to prove its fix by, and says so.
lines() { jq -cS 'select(.type == "flow" or .type == "outcome" or .type == "diagnosis" or .type == "change") | del(.fix_proven)' "$1"; }
[[ $(jq -c 'select(.type == "diagnosis") | .fix_proven' "$replay_out" | sort -u) == false ]] ||
  fail "a replayed fix claims to be proven"
live_lines=$(lines "$OUT")
replayed_lines=$(lines "$replay_out")
[[ -n $live_lines ]] || fail "the live run printed no flow line"
[[ $live_lines == "$replayed_lines" ]] ||
  fail "replay differs from the live run: $(diff <(echo "$live_lines") <(echo "$replayed_lines") | head -20)"
verdicts() { jq -cS '[.flows[] | {flow, verdict, state}]' "$1"; }
[[ $(verdicts "$REPORT") == "$(verdicts "$WORK/replay-report.json")" ]] ||
  fail "the replayed report's flows differ from the live report's"
jq -e '.diagnoses[0].source_route == "default via 10.141.13.1 dev enslf1"' "$WORK/replay-report.json" >/dev/null ||
  fail "the replayed report lacks the diagnosis"

# Bad recordings: one line, exit 2.
echo '{"type":"flow"}' >"$WORK/not-a-recording"
rc=0
err=$("$SVCTRACE" replay "$WORK/not-a-recording" 2>&1 >/dev/null) || rc=$?
((rc == 2)) && [[ $(wc -l <<<"$err") -eq 1 && $err == *"not an svctrace recording"* ]] ||
  fail "a file that is not a recording: exit $rc, message: $err"
# A capture cut short (svctrace killed) still replays what it holds.
head -n -1 "$REC" >"$WORK/cut.ndjson"
rc=0
"$SVCTRACE" replay "$WORK/cut.ndjson" --json >"$WORK/cut.out" 2>"$WORK/cut.err" || rc=$?
((rc == 3)) && grep -q "cut short" "$WORK/cut.err" || fail "a cut recording: exit $rc, $(cat "$WORK/cut.err")"
# A file that is not JSON at all: said so in one line, not in the JSON parser's words.
rc=0
err=$("$SVCTRACE" replay /etc/passwd 2>&1 >/dev/null) || rc=$?
[[ $rc == 2 && $err == "svctrace: replay: /etc/passwd: line 1: not an svctrace recording (line 1 is not JSON)" ]] ||
  fail "replay /etc/passwd: exit $rc, message: $err"

# svctrace killed with SIGKILL while recording: the capture it was writing (FILE.XXXXXX, as --help
# says) replays, with a warning, to the diagnosis it had made; its last line may be cut mid-write.
lab up >/dev/null
KREC=$WORK/killed.ndjson
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --record "$KREC" --duration 60
lab_connect 3 >/dev/null && fail "connect through the broken lab should fail"
wait_for_line '.type == "diagnosis"' 10 >/dev/null || fail "no diagnosis of the failed connect before the kill"
sleep 0.3 # a tick or two: the diagnosis's tick reaches the file
stop_svctrace KILL
partial=$(compgen -G "$KREC.??????") || fail "no capture in progress beside $KREC after SIGKILL"
[[ -e $KREC ]] && fail "a killed svctrace must not have renamed its capture into place"
# Cut the last line in the middle, as a kill during a write leaves it.
truncate -s -20 "$partial"
rc=0
"$SVCTRACE" replay "$partial" --json >"$WORK/killed.out" 2>"$WORK/killed.err" || rc=$?
((rc == 3)) || fail "the killed capture: exit $rc, not 3: $(cat "$WORK/killed.err")"
grep -q "cut mid-write and is left out" "$WORK/killed.err" || fail "no warning of the torn line: $(cat "$WORK/killed.err")"
jq -s -e 'any(.[]; .type == "diagnosis" and .verdict == "asymmetric_source")' "$WORK/killed.out" >/dev/null ||
  fail "the killed capture did not replay to the diagnosis"
pass
