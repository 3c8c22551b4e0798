#!/usr/bin/env bash
# svctrace's benchmarks. Not part of the tests (timings depend on the machine); writes a table to
# bench/RESULTS.md (or -o FILE) and prints it.
#
#   1. userspace: the correlator fed synthetic events (bench/bench_correlator.cpp, Google Benchmark)
#   2. connection rate: bench/connload connects through a DNAT'd Service IP (172.24.0.2:80 ->
#      10.0.0.8:7443) in a lab with the fix route, with no tracer, svctrace with a CIDR that matches
#      nothing, svctrace matching all the traffic, tcpdump writing SYNs/RSTs to a file, and a bpftrace
#      script on the same tracepoints (bench/peer.bt). The five run interleaved, ROUNDS times, in a
#      rotating order; each figure is the median of its rounds.
#   3. per-program cost: kernel.bpf_stats_enabled=1 (restored afterwards) during one more run of each
#      tracer: run_time_ns / run_cnt of every program it holds.
#   4. start-up: launch to the ready line; SIGINT to exit, and to all its programs gone from the kernel.
#
# Usage: scripts/bench.sh [-d SECONDS_PER_RUN] [-r ROUNDS] [-o FILE]   (defaults: 5 s, 3 rounds)
# Needs root. Every load is bounded in count and time and runs between the namespaces of this script's
# own lab (scripts/lab.sh, removed on exit); nothing is sent from the root namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

seconds=5
rounds=3
out=bench/RESULTS.md
while getopts "d:r:o:" opt; do
  case $opt in
    d) seconds=$OPTARG ;;
    r) rounds=$OPTARG ;;
    o) out=$OPTARG ;;
    *) echo "usage: $0 [-d SECONDS_PER_RUN] [-r ROUNDS] [-o FILE]" >&2; exit 2 ;;
  esac
done
[[ $seconds =~ ^[1-9][0-9]?$ && $rounds =~ ^[1-9]$ ]] || { echo "bench: -d 1..99, -r 1..9" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root (BPF, network namespaces)" >&2; exit 1; }

bash scripts/install-deps.sh --bench
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSVCTRACE_SANITIZE=OFF >/dev/null
cmake --build build -j"$(nproc)" --target svctrace connload bench_correlator
SVCTRACE=$ROOT/build/svctrace
CONNLOAD=$ROOT/build/bench/connload

P=bench$$
NODE=$P-node
API=$P-api
SVC=172.24.0.2
MATCH_ALL=172.24.0.0/13
MATCH_NONE=198.18.0.0/15 # benchmarking range (RFC 2544): no traffic here goes there
TMP=$(mktemp -d /tmp/svctrace-bench.XXXXXX)
STATS_BEFORE=$(sysctl -n kernel.bpf_stats_enabled)
TRACER_PID=""

cleanup() {
  set +e
  [[ -n $TRACER_PID ]] && kill -KILL "$TRACER_PID" 2>/dev/null
  sysctl -qw kernel.bpf_stats_enabled="$STATS_BEFORE"
  scripts/lab.sh down --prefix "$P" >/dev/null 2>&1 # also ends the server, which lives in the lab
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_us() { echo "${EPOCHREALTIME/./}"; }

# wait_line FILE REGEX PID TIMEOUT_S: polls until FILE has a line matching REGEX; fails if PID dies.
wait_line() {
  local file=$1 re=$2 pid=$3 i
  for ((i = 0; i < $4 * 100; i++)); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "bench: process $pid exited before '$re' appeared in $file:" >&2; tail -5 "$file" >&2; exit 1; }
    sleep 0.01
  done
  echo "bench: no '$re' in $file within $4 s" >&2
  exit 1
}

# --- the lab ------------------------------------------------------------------------------------------

scripts/lab.sh up --prefix "$P" >/dev/null
scripts/lab.sh fix --prefix "$P" >/dev/null
# The benchmark's Service: kube-proxy's rule, to connload's server.
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d "$SVC/32" -p tcp --dport 80 -j DNAT --to-destination 10.0.0.8:7443
server_bound=$(((rounds * 5 + 5) * (seconds + 30) + 120))
ip netns exec "$API" "$CONNLOAD" server --listen 10.0.0.8:7443 --seconds "$server_bound" >"$TMP/server.out" 2>&1 &
wait_line "$TMP/server.out" '^listening' $! 10

# load: one bounded run of the client in the node namespace; prints connections per second.
load() {
  local result
  result=$(ip netns exec "$NODE" "$CONNLOAD" client --connect "$SVC:80" --seconds "$seconds") || {
    echo "bench: connload failed: $result" >&2
    exit 1
  }
  jq -r .per_second <<<"$result"
}

# --- tracers: start_X returns once X is tracing; stop_tracer ends it --------------------------------

# (A background job of a non-interactive shell has SIGINT ignored; each tracer gets it back.)
start_svctrace() { # CIDR
  (
    trap - INT QUIT
    exec "$SVCTRACE" --netns "$NODE" --cidr "$1" --json
  ) >"$TMP/tracer.out" 2>"$TMP/tracer.err" &
  TRACER_PID=$!
  wait_line "$TMP/tracer.out" '"type":"ready"' "$TRACER_PID" 20
}
start_none() { :; }
start_svctrace_none() { start_svctrace "$MATCH_NONE"; }
start_svctrace_all() { start_svctrace "$MATCH_ALL"; }
start_tcpdump() {
  (
    trap - INT QUIT
    exec ip netns exec "$NODE" tcpdump -Z root -i enslf0 -w "$TMP/capture.pcap" 'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0'
  ) >"$TMP/tracer.out" 2>"$TMP/tracer.err" &
  TRACER_PID=$!
  wait_line "$TMP/tracer.err" 'listening on enslf0' "$TRACER_PID" 20
}
start_bpftrace() {
  # bpftrace finds tracepoints through tracefs, which this machine does not mount: mounted in a
  # private mount namespace, seen by bpftrace alone.
  (
    trap - INT QUIT
    exec unshare -m --propagation private sh -c \
      'mount -t tracefs nodev /sys/kernel/tracing && exec bpftrace "$0"' "$ROOT/bench/peer.bt"
  ) >"$TMP/tracer.out" 2>"$TMP/tracer.err" &
  TRACER_PID=$!
  wait_line "$TMP/tracer.out" '^Attaching 4 probes' "$TRACER_PID" 60
  # ... and it has attached them: four programs on four perf events.
  local i
  for ((i = 0; i < 1000; i++)); do
    (($(find "/proc/$TRACER_PID/fd" -lname 'anon_inode:*perf_event*' 2>/dev/null | wc -l) >= 4)) && return 0
    sleep 0.01
  done
  echo "bench: bpftrace did not attach its 4 probes within 10 s" >&2
  exit 1
}
stop_tracer() {
  [[ -n $TRACER_PID ]] || return 0
  kill -INT "$TRACER_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 1000; i++)); do kill -0 "$TRACER_PID" 2>/dev/null || break; sleep 0.01; done
  kill -KILL "$TRACER_PID" 2>/dev/null || true
  wait "$TRACER_PID" 2>/dev/null || true
  TRACER_PID=""
  rm -f "$TMP/capture.pcap"
}

CONFIGS=(none svctrace_none svctrace_all tcpdump bpftrace)
declare -A LABEL=(
  [none]="no tracer"
  [svctrace_none]="svctrace, CIDR matching nothing ($MATCH_NONE)"
  [svctrace_all]="svctrace, CIDR matching all the traffic ($MATCH_ALL)"
  [tcpdump]="tcpdump -w file, SYN/RST filter, on enslf0"
  [bpftrace]="bpftrace, bench/peer.bt (same tracepoints)"
)
declare -A RATES=() LOST=() CPU=()

# cpu_ticks: user + system CPU time the running tracer has used, in clock ticks (0 with none).
cpu_ticks() {
  [[ -n $TRACER_PID ]] || { echo 0; return; }
  sed 's/^.*) //' "/proc/$TRACER_PID/stat" | awk '{ print $12 + $13 }'
}

# lost CONFIG: what the tracer of the run that just ended says it lost.
lost() {
  case $1 in
    svctrace_*) jq -r 'select(.type == "summary") | .stats.ringbuf_drops' "$TMP/tracer.out" ;;
    tcpdump) awk '/packets dropped by kernel/ { s += $1 } END { print s + 0 }' "$TMP/tracer.err" ;;
    bpftrace)
      awk '{ for (i = 1; i + 2 <= NF; i++) if ($i == "Lost" && $(i + 2) ~ /^events/) s += $(i + 1) } END { print s + 0 }' \
        "$TMP/tracer.out" "$TMP/tracer.err"
      ;;
    *) echo 0 ;;
  esac
}

# --- 1. userspace throughput --------------------------------------------------------------------------

echo "== correlator throughput"
build/bench/bench_correlator --benchmark_format=json --benchmark_min_time=1 >"$TMP/correlator.json"
correlator_rows=$(jq -r '.benchmarks[] | "| `\(.name)` | \(.items_per_second / 1e6 * 100 | round / 100) M events/s | \(.changes / 2 | round) flows |"' "$TMP/correlator.json")

# --- 2. connection rate ---------------------------------------------------------------------------------

echo "== connection rate: $rounds rounds of ${#CONFIGS[@]} runs of $seconds s"
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < ${#CONFIGS[@]}; k++)); do
    c=${CONFIGS[(k + r) % ${#CONFIGS[@]}]}
    "start_$c"
    cpu0=$(cpu_ticks)
    rate=$(load)
    CPU[$c]=$((${CPU[$c]:-0} + $(cpu_ticks) - cpu0))
    stop_tracer
    RATES[$c]+="$rate "
    LOST[$c]=$((${LOST[$c]:-0} + $(lost "$c")))
    printf '   round %d  %-14s %8.0f conn/s\n' $((r + 1)) "$c" "$rate"
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=$(median <<<"${RATES[none]}")

# --- 3. per-program cost --------------------------------------------------------------------------------

# prog_stats PID: "id name run_time_ns run_cnt" for every BPF program PID holds, sorted for join.
prog_stats() {
  local ids
  ids=$(grep -hs '^prog_id:' /proc/"$1"/fdinfo/* | awk '{ print $2 }' | sort -u | paste -sd, -)
  bpftool -j prog show | jq -r --argjson ids "[$ids]" \
    '.[] | select(.id as $i | $ids | index($i)) | "\(.id) \(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"' | sort -k1,1
}
echo "== per-program cost (kernel.bpf_stats_enabled=1 for these runs)"
sysctl -qw kernel.bpf_stats_enabled=1
cost_rows=""
for c in svctrace_none svctrace_all bpftrace; do
  "start_$c"
  prog_stats "$TRACER_PID" >"$TMP/stats.before"
  rate=$(load)
  prog_stats "$TRACER_PID" >"$TMP/stats.after"
  stop_tracer
  cost_rows+=$(join "$TMP/stats.before" "$TMP/stats.after" | awk -v label="$c" '{
      n = $7 - $4
      printf "| %s | `%s` | %d | %s |\n", label, $2, n, n ? sprintf("%.0f", ($6 - $3) / n) : "-"
    }')$'\n'
done
sysctl -qw kernel.bpf_stats_enabled="$STATS_BEFORE"

# --- 4. start-up ---------------------------------------------------------------------------------------

echo "== start-up and detach (5 runs)"
startup_rows=""
for ((i = 1; i <= 5; i++)); do
  t0=$(now_us)
  coproc SVC { trap - INT QUIT; exec "$SVCTRACE" --netns "$NODE" --cidr "$MATCH_ALL" --json 2>/dev/null; }
  pid=$SVC_PID
  read -r -t 20 line <&"${SVC[0]}" || { echo "bench: svctrace printed no ready line" >&2; exit 1; }
  t1=$(now_us)
  [[ $line == *'"type":"ready"'* ]] || { echo "bench: svctrace's first line is not ready: $line" >&2; exit 1; }
  ids=$(grep -hs '^prog_id:' /proc/"$pid"/fdinfo/* | awk '{ print $2 }' | sort -u | paste -sd, -)
  t2=$(now_us)
  kill -INT "$pid"
  wait "$pid" || true
  t3=$(now_us)
  for ((j = 0; j < 500; j++)); do
    [[ $(bpftool -j prog show | jq --argjson ids "[$ids]" '[.[] | select(.id as $i | $ids | index($i))] | length') == 0 ]] && break
    sleep 0.01
  done
  t4=$(now_us)
  startup_rows+="| $i | $(((t1 - t0) / 1000)) ms | $(((t3 - t2) / 1000)) ms | $(((t4 - t2) / 1000)) ms |"$'\n'
done

# --- the table ------------------------------------------------------------------------------------------

{
  echo "# svctrace benchmark results"
  echo
  echo "Written by \`scripts/bench.sh -d $seconds -r $rounds\` on $(date -u +%Y-%m-%dT%H:%M:%SZ), svctrace"
  echo "$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes'), kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))."
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared: compare within a run)."
  echo
  echo "## Connection rate through a DNAT'd Service IP"
  echo
  echo "\`bench/connload\` in the lab's node namespace: connect to 172.24.0.2:80 (DNAT 10.0.0.8:7443 in the"
  echo "api namespace), close with a reset; one thread, $seconds s per run; median of $rounds interleaved rounds."
  echo "Targets (issue 6): at most 3 % loss when nothing matches, 8 % when everything does, cheaper than each peer."
  echo
  echo "| tracer | connections/s | ratio to no tracer | each round | tracer process CPU | events it lost |"
  echo "| --- | ---: | ---: | --- | ---: | ---: |"
  for c in "${CONFIGS[@]}"; do
    m=$(median <<<"${RATES[$c]}")
    printf '| %s | %.0f | %.3f | %s | %s | %s |\n' "${LABEL[$c]}" "$m" "$(awk -v m="$m" -v b="$base" 'BEGIN { print m / b }')" \
      "$(for v in ${RATES[$c]}; do printf '%.0f ' "$v"; done)" \
      "$([[ $c == none ]] && echo - || awk -v t="${CPU[$c]}" -v hz="$(getconf CLK_TCK)" -v s=$((seconds * rounds)) 'BEGIN { printf "%.0f %% of a core", 100 * t / hz / s }')" \
      "$([[ $c == none ]] && echo - || echo "${LOST[$c]}")"
  done
  echo
  echo "Tracer process CPU: user + system time of the tracer's own process during the load. Its BPF programs"
  echo "run in the context of the traffic instead: their cost shows in the connection rate."
  echo
  echo "## Per-program cost (kernel.bpf_stats_enabled), during one $seconds s run of the same load"
  echo
  echo "Averages over every invocation: tracepoint programs run for every event on the machine (other"
  echo "namespaces included), most of them not for a service flow. Targets: 50 ns for a non-matching packet,"
  echo "200 ns for a matching one."
  echo
  echo "| run | program | invocations | ns per invocation |"
  echo "| --- | --- | ---: | ---: |"
  printf '%s' "$cost_rows"
  echo
  echo "## Userspace: the correlator (bench/bench_correlator.cpp)"
  echo
  echo "Synthetic events of 50000 (or 200000, through the default 65536-flow table) connects, one thread."
  echo "Target: 2 million events/s."
  echo
  echo "| benchmark | throughput | flows decided |"
  echo "| --- | ---: | ---: |"
  echo "$correlator_rows"
  echo
  echo "## Start-up and detach"
  echo
  echo "Launch to the ready line (every program loaded and attached), SIGINT to exit, SIGINT to the last"
  echo "program gone from \`bpftool prog show\` (polled: ~50 ms resolution). Targets: 300 ms, 1 s."
  echo
  echo "| run | launch to ready | SIGINT to exit | SIGINT to all programs gone |"
  echo "| ---: | ---: | ---: | ---: |"
  printf '%s' "$startup_rows"
} >"$out"
cat "$out"
