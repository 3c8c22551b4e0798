#!/usr/bin/env bash
# stdout a pipe whose reader leaves (`svctrace ... --report r.html | tee log`, then tee dies): svctrace
# must not die of SIGPIPE (exit 141) and lose the report. It says once on stderr that the reader
# left and prints nothing more; with --report or --record it goes on tracing until stopped, then writes
# them (before the summary it can no longer print) and exits with its usual status. With nothing else
# to write it stops by itself. `replay` into a pipe with no reader writes its report too.
# svctrace runs under `env --default-signal=PIPE`: SIGPIPE kills it as in a shell, even where this test
# was started with SIGPIPE ignored.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

REC=$WORK/capture.ndjson
lab up >/dev/null

# start_piped ARGS...: svctrace ARGS with stdout into a pipe read by `head -n 1`, which takes the
# ready line and exits; returns once it has, so that from then on the pipe has no reader.
start_piped() {
  local fifo=$WORK/stdout.fifo reader i
  rm -f "$fifo"
  mkfifo "$fifo"
  head -n 1 <"$fifo" >"$WORK/first-line" {E2E_OUT}>&- &
  reader=$!
  echo "+ $SVCTRACE $* | head -n 1" >"$WORK/cmdline"
  _BPF_BEFORE=$(_bpf_ids_existing)
  (
    trap - INT QUIT
    exec env --default-signal=PIPE "$SVCTRACE" "$@"
  ) >"$fifo" 2>"$ERR" {E2E_OUT}>&- &
  SVC_PID=$!
  SVC_RC=""
  for ((i = 0; i < 400; i++)); do # 20 s
    kill -0 "$reader" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$reader" 2>/dev/null && fail "svctrace printed no ready line within 20 s"
  wait "$reader" || true
  assert_json "$(cat "$WORK/first-line")" '.type == "ready"' "the reader got svctrace's ready line"
  SVC_BPF_IDS=$(_bpf_ids_held "$SVC_PID")
}

# 1. The incident traced with --report and --record; the reader leaves after the ready line.
start_piped --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --record "$REC" --duration 60
lab_connect 3 >/dev/null && fail "connect through the broken lab should fail"
wait_stderr "stdout's reader left" 5 || fail "stderr does not say that stdout's reader left"
kill -0 "$SVC_PID" 2>/dev/null || fail "svctrace stopped tracing when its reader left, though it has a report to write"
stop_svctrace INT
[[ $SVC_RC != 141 ]] || fail "svctrace was killed by SIGPIPE (exit 141)"
assert_exit 3
assert_detached
assert_report
assert_report_json 'any(.diagnoses[]; .verdict == "asymmetric_source" and .flow.dst == "172.24.0.1")' \
  "the report has the diagnosis of the connect made after the reader left"
[[ -s $REC ]] || fail "no recording written"
assert_json "$(tail -n 1 "$REC")" '.type == "end"' "the recording is complete"
assert_eq "$(grep -c "reader left" "$ERR")" 1 "lines on stderr that say the reader left"
grep -q "tracing goes on for --report, --record until stopped" "$ERR" ||
  fail "stderr does not say that tracing goes on for the report: $(cat "$ERR")"
grep -q "report written to $REPORT" "$ERR" || fail "stderr does not say the report was written"

# 2. Nothing but stdout to write: when its reader leaves (here at the first stats line), svctrace
# stops by itself, with its usual status.
rm -f "$REPORT"
start_piped --netns "$NODE" --cidr "$CIDR" --json --stats-interval 0.2 --duration 60
wait_svctrace_exit 10 || fail "svctrace, with nothing but stdout to write, went on tracing after its reader left"
[[ $SVC_RC != 141 ]] || fail "svctrace was killed by SIGPIPE (exit 141)"
assert_exit 0
assert_detached
grep -q "stdout's reader left (the pipe is closed): nothing more is printed; stopping" "$ERR" ||
  fail "stderr does not say why svctrace stopped: $(cat "$ERR")"

# 3. replay into a pipe that has no reader from the start: the report is written, the status is the
# replay's (3: the incident's capture holds a diagnosis).
fifo=$WORK/closed.fifo
mkfifo "$fifo"
exec {both}<>"$fifo"    # a reader, so that opening the writing end does not block
exec {writer}>"$fifo"
exec {both}>&-          # ... gone: the pipe has no reader
rc=0
env --default-signal=PIPE "$SVCTRACE" replay "$E2E_ROOT/tests/recordings/incident.ndjson" \
  --report "$WORK/replayed.json" >&"$writer" 2>"$WORK/replay.err" {E2E_OUT}>&- || rc=$?
exec {writer}>&-
((rc != 141)) || fail "replay was killed by SIGPIPE (exit 141)"
((rc == 3)) || fail "replay into a closed pipe exited $rc, not 3: $(cat "$WORK/replay.err")"
jq -e 'any(.diagnoses[]; .verdict == "asymmetric_source")' "$WORK/replayed.json" >/dev/null 2>&1 ||
  fail "replay into a closed pipe wrote no report with the diagnosis"
grep -q "stdout's reader left (the pipe is closed): the rest of the output was not printed" "$WORK/replay.err" ||
  fail "replay's stderr does not say the reader left: $(cat "$WORK/replay.err")"

pass
