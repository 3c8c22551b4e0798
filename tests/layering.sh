#!/usr/bin/env bash
# The include half of the layering (userspace/CMakeLists.txt checks the link half): a stage's files
# include only the stages it stands on. A header-only type used across the layering (which no link
# would catch) fails here. Prints each include that breaks the rule and exits 1; no root needed.
set -euo pipefail
cd "$(dirname "$0")/../userspace"

# stage: the stages (folders of userspace/, and svctrace/ for include/svctrace/events.h) it may include.
declare -A allowed=(
  [correlate]="correlate svctrace"
  [node]="correlate node svctrace"
  [diagnose]="correlate node diagnose svctrace"
  [report]="correlate node diagnose report svctrace"
  # session reads the tracer's counters, a plain struct: capture/kernel_counters.h and nothing else.
  [session]="correlate node diagnose report session svctrace capture/kernel_counters.h"
  [capture]="correlate node capture svctrace"
  [cli]="correlate node diagnose report session capture cli svctrace"
)
bad=0
for stage in */; do
  stage=${stage%/}
  [[ -n ${allowed[$stage]+set} ]] || { echo "layering: userspace/$stage is not in tests/layering.sh's table"; bad=1; continue; }
  while IFS=: read -r file line inc; do
    ok=0
    for a in ${allowed[$stage]}; do
      [[ $inc == "$a" || $inc == "$a"/* ]] && ok=1
    done
    ((ok)) || { echo "layering: userspace/$file:$line includes \"$inc\", above or beside stage $stage"; bad=1; }
  done < <(grep -rnoE '^#include "[^"]+/[^"]+"' "$stage" | sed -E 's/#include "([^"]+)"/\1/')
done
((bad == 0)) && echo "layering: every include goes down the stages"
exit "$bad"
