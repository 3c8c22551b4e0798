#!/usr/bin/env bash
# compare-replay.sh OLD_SVCTRACE NEW_SVCTRACE [RECORDING...]
#
# Replays the same recordings with two svctrace binaries and wants byte-identical results: for each
# recording (default: every tests/recordings/*.ndjson) and each output mode of `svctrace replay`
# (human lines, human lines with --color always, --json, --report FILE.json, --report FILE.html, and
# --json with both reports at once), both binaries run with the same arguments and the same
# environment, each in a temp dir of its own with the same relative file names, and their stdout,
# stderr, exit status and every file they leave behind (the reports) are compared byte for byte.
# (`svctrace replay --help` names only FILE: --json, --report and --color are the top-level options,
# which the subcommand takes. -v is left out: debug logs are not an output a refactor must keep.)
#
# One line per recording and mode: `same`, or `DIFFERS` and what differs, with a short excerpt (the
# first differing byte in context, and the first lines of the diff). Then `N passed, N failed`.
# Exit status: 0 when every comparison is the same, 1 when any differs, 2 on a usage error.
#
# This is how a refactor is checked (issue 13): a change that means to alter no output must replay
# every recording to the same bytes as the commit before it.
#
#   base=$(git merge-base HEAD main)                  # the commit the refactor starts from
#   git clone -q . /tmp/base && git -C /tmp/base checkout -q "$base"
#   cmake -S /tmp/base -B /tmp/base/build && cmake --build /tmp/base/build -j2 --target svctrace
#   cmake -S . -B build && cmake --build build -j2 --target svctrace
#   scripts/compare-replay.sh /tmp/base/build/svctrace build/svctrace
#
# A change that does mean to alter the output (a new field, a reworded line) shows here as DIFFERS,
# and the excerpt should show exactly that change and nothing else. Recordings are refreshed with
# tests/recordings/make.sh (root; lab namespaces). Replay needs no root, no BPF and no network.
#
# The environment of both runs is fixed (env -i): PATH=/usr/bin:/bin, LC_ALL=C.UTF-8, TZ=UTC; stdin is
# /dev/null and stdout/stderr are files (no terminal). Each run is bounded by REPLAY_TIMEOUT seconds
# (default 120); a run killed by it exits 124, which shows as a difference unless both were killed.
set -euo pipefail

usage() {
  echo "usage: $0 OLD_SVCTRACE NEW_SVCTRACE [RECORDING...]   (default: tests/recordings/*.ndjson)" >&2
  exit 2
}

(($# >= 2)) || usage
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIMEOUT=${REPLAY_TIMEOUT:-120}
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || { echo "compare-replay: bad REPLAY_TIMEOUT '$TIMEOUT'" >&2; exit 2; }

# abs PATH: PATH made absolute (the runs happen in other directories), or a usage error.
abs() {
  local p=$1 what=$2
  [[ -f $p && -r $p ]] || { echo "compare-replay: $what '$p' is not a readable file" >&2; exit 2; }
  echo "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
}
OLD=$(abs "$1" "OLD_SVCTRACE")
NEW=$(abs "$2" "NEW_SVCTRACE")
shift 2
[[ -x $OLD ]] || { echo "compare-replay: $OLD is not executable" >&2; exit 2; }
[[ -x $NEW ]] || { echo "compare-replay: $NEW is not executable" >&2; exit 2; }

recordings=()
if (($#)); then
  for r in "$@"; do recordings+=("$(abs "$r" "recording")"); done
else
  shopt -s nullglob
  recordings=("$ROOT"/tests/recordings/*.ndjson)
  shopt -u nullglob
  ((${#recordings[@]})) || { echo "compare-replay: no recordings in $ROOT/tests/recordings" >&2; exit 2; }
fi
# The same base name twice would make two comparisons indistinguishable.
dup=$(for r in "${recordings[@]}"; do basename "$r"; done | sort | uniq -d | head -n 1)
[[ -z $dup ]] || { echo "compare-replay: two recordings named $dup" >&2; exit 2; }

# Output modes: NAME and the arguments after `replay FILE`.
MODES=(
  "human|"
  "color|--color always"
  "json|--json"
  "report-json|--report report.json"
  "report-html|--report report.html"
  "json-reports|--json --report report.json --report report.html"
)

TMP=$(mktemp -d /tmp/compare-replay.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run SIDE BINARY RECORDING ARGS...: one replay in $TMP/SIDE, laid out the same for both sides:
#   bin/svctrace -> BINARY (so argv[0] is the same), run/NAME.ndjson (a copy; the cwd of the run, where
#   the reports go), stdout, stderr, status.
run() {
  local side=$1 bin=$2 rec=$3 name rc=0
  shift 3
  name=$(basename "$rec")
  rm -rf "${TMP:?}/$side"
  mkdir -p "$TMP/$side/bin" "$TMP/$side/run"
  ln -s "$bin" "$TMP/$side/bin/svctrace"
  cp "$rec" "$TMP/$side/run/$name"
  (
    cd "$TMP/$side/run"
    timeout "$TIMEOUT" env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 TZ=UTC \
      ../bin/svctrace replay "$name" "$@" </dev/null >../stdout 2>../stderr
  ) || rc=$?
  echo "$rc" >"$TMP/$side/status"
}

# context FILE BYTE: ~100 bytes of FILE around BYTE (1-based), on one line, escaped.
context() {
  local from=$(($2 > 40 ? $2 - 40 : 1))
  tail -c "+$from" "$1" | head -c 100 | cat -v | sed -z 's/\n/\\n/g'
}

# excerpt LABEL OLD_FILE NEW_FILE: where they first differ, and the first lines of the diff.
excerpt() {
  local label=$1 a=$2 b=$3 c byte
  c=$(cmp -- "$a" "$b" 2>&1 | head -n 1 || true)
  c=${c//$a/old}
  c=${c//$b/new}
  echo "    $label: $c"
  byte=$(sed -n 's/.* differ: byte \([0-9]*\),.*/\1/p' <<<"$c")
  if [[ -n $byte ]]; then
    echo "      old: $(context "$a" "$byte")"
    echo "      new: $(context "$b" "$byte")"
  fi
  diff -- "$a" "$b" | head -n 4 | cut -c 1-160 | sed 's/^/      /' || true
}

size() { stat -c %s "$1"; }
joined() { local s; printf -v s '%s, ' "$@"; echo "${s%, }"; }

passed=0
failed=0
odd_exits=0
for rec in "${recordings[@]}"; do
  name=$(basename "$rec")
  for mode in "${MODES[@]}"; do
    label=${mode%%|*}
    read -r -a args <<<"${mode#*|}"
    run old "$OLD" "$rec" "${args[@]}"
    run new "$NEW" "$rec" "${args[@]}"

    what=()       # what differs
    details=()    # the excerpt lines
    same_desc=()  # what was compared, for the `same` line
    old_rc=$(<"$TMP/old/status")
    new_rc=$(<"$TMP/new/status")
    if [[ $old_rc != "$new_rc" ]]; then
      what+=("exit $old_rc vs $new_rc")
    else
      same_desc+=("exit $old_rc")
    fi
    for f in stdout stderr; do
      if cmp -s "$TMP/old/$f" "$TMP/new/$f"; then
        same_desc+=("$f $(size "$TMP/old/$f") B")
      else
        what+=("$f")
        mapfile -t -O "${#details[@]}" details < <(excerpt "$f" "$TMP/old/$f" "$TMP/new/$f")
      fi
    done
    # Every file either run left in its directory (the reports, and anything else, e.g. a temporary
    # file not renamed), by name and then by content.
    files=$(find "$TMP/old/run" "$TMP/new/run" -mindepth 1 -printf '%P\n' | sort -u)
    while IFS= read -r f; do
      [[ -n $f && $f != "$name" ]] || continue
      if [[ ! -e $TMP/old/run/$f || ! -e $TMP/new/run/$f ]]; then
        what+=("$f")
        details+=("    $f: only the $([[ -e $TMP/old/run/$f ]] && echo old || echo new) binary wrote it")
      elif cmp -s "$TMP/old/run/$f" "$TMP/new/run/$f"; then
        same_desc+=("$f $(size "$TMP/old/run/$f") B")
      else
        what+=("$f")
        mapfile -t -O "${#details[@]}" details < <(excerpt "$f" "$TMP/old/run/$f" "$TMP/new/run/$f")
      fi
    done <<<"$files"
    # The recording itself must come back untouched.
    for side in old new; do
      cmp -s "$rec" "$TMP/$side/run/$name" || { what+=("$name modified by $side"); }
    done

    if ((${#what[@]} == 0)); then
      passed=$((passed + 1))
      line="same     $name $label: $(joined "${same_desc[@]}")"
      if [[ $old_rc != 0 && $old_rc != 3 ]]; then
        odd_exits=$((odd_exits + 1))
        line+=" (both exit $old_rc: $(head -n 1 "$TMP/old/stderr" | cut -c 1-120))"
      fi
      echo "$line"
    else
      failed=$((failed + 1))
      echo "DIFFERS  $name $label: $(joined "${what[@]}")"
      ((${#details[@]} == 0)) || printf '%s\n' "${details[@]}"
    fi
  done
done

if ((odd_exits)); then
  echo "note: $odd_exits comparison(s) where both binaries exited neither 0 nor 3 (not a replay): see above"
fi
echo "$passed passed, $failed failed"
((failed == 0))
