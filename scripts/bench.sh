#!/usr/bin/env bash
# svctrace's benchmarks. Not part of the tests (timings depend on the machine); writes a table to
# bench/RESULTS.md (or -o FILE) and prints it.
#
#   1. userspace: the correlator fed synthetic events (bench/bench_correlator.cpp, Google Benchmark)
#   2. connection rate: bench/connload connects through a DNAT'd Service IP (172.24.0.2:80 ->
#      10.0.0.8:7443) in a lab with the fix route, with no tracer, empty BPF programs where svctrace
#      attaches (bench/nf_floor: what being attached costs), svctrace with a CIDR that matches
#      nothing, svctrace matching all the traffic, the same with --pcap FILE (healthy traffic: nothing
#      should reach the file), tcpdump writing SYNs/RSTs to a file, and a bpftrace script on the same
#      tracepoints (bench/peer.bt). The seven run interleaved, ROUNDS times, in a
#      rotating order; each is compared with its round's no-tracer run, and a ratio is the median of
#      the rounds' (with the quartiles). Also the whole machine's working CPU time per connection.
#   3. per-program cost: kernel.bpf_stats_enabled=1 (restored afterwards) during one more run of each
#      tracer: run_time_ns / run_cnt of every program it holds; and of bench/nf_floor, empty programs
#      attached where svctrace's are: the floor of what the statistics can show on this machine, set
#      beside svctrace's program at each hook.
#   4. start-up: launch to the ready line; SIGINT to exit, and to all its programs gone from the kernel.
#   5. scale: bench/synflood sends unanswered SYNs (raw sockets, a source port each, FLOOD_THREADS
#      threads) to a second Service IP (172.24.0.3, DNAT 10.0.0.8 keeping the port; the api drops them):
#      rising rates (20 k to 250 k/s, up to the first with a loss or the sender's own limit) for 4 s
#      each, with --max-flows 262144 so that every flow can wait out --unanswered-after; the highest
#      rate with no ring-buffer drop. Then 1 million such flows with svctrace's defaults: peak RSS,
#      evictions; and the same with --pcap (packets in the file, and written per second of flood).
#
#   -k SECTIONS: only these of the five, comma-separated: correlator, rate, cost, startup, scale (e.g.
#   -k scale, -k cost,startup); the table then has only their parts. Default: all.
#
#   -b BINARY: also run BINARY, another build of svctrace (e.g. main's, before a change), matching
#   nothing and matching all, in the same rounds of the rate section and beside svctrace in the cost
#   section: a before/after comparison measured side by side, not across runs of a noisy machine.
#
#   -V "KERNELS": then the rate and cost sections (those of -k) again inside each of these Debian
#   kernels under qemu (tests/vm/run.sh; e.g. -V "6.1 6.12"), with the binaries built here. qemu's TCG
#   makes absolute figures meaningless there: a VM's tables give only ratios (to the no-tracer run, and
#   to the empty-program floor), appended below the host's.
#
#   -s MINUTES: the soak instead of all that: MINUTES of answered connections (connload, 1000/s) mixed
#   with unanswered SYNs (synflood, 100/s) under one svctrace; its RSS and flow table sampled every
#   10 s, and every unanswered flow must be diagnosed. Written to bench/SOAK.md (or -o FILE).
#
# Usage: scripts/bench.sh [-d SECONDS_PER_RUN] [-r ROUNDS] [-k SECTIONS] [-b BINARY] [-V "KERNELS"] [-o FILE]   (defaults: 3 s, 9 rounds, all)
#        scripts/bench.sh -s MINUTES [-o FILE]                          (the soak, e.g. -s 10)
# Needs root. Every load is bounded in count and time and runs between the namespaces of this script's
# own lab (scripts/lab.sh, removed on exit); nothing is sent from the root namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

seconds=3
rounds=9
out=""
soak=0
baseline=""
vm_kernels=""
SECTIONS=correlator,rate,cost,startup,scale
sections=$SECTIONS
while getopts "d:r:k:o:s:b:V:" opt; do
  case $opt in
    d) seconds=$OPTARG ;;
    r) rounds=$OPTARG ;;
    k) sections=$OPTARG ;;
    o) out=$OPTARG ;;
    s) soak=$OPTARG ;;
    b) baseline=$OPTARG ;;
    V) vm_kernels=$OPTARG ;;
    *) echo "usage: $0 [-d SECONDS_PER_RUN] [-r ROUNDS] [-k SECTIONS] [-b BINARY] [-V KERNELS] [-o FILE] | -s MINUTES [-o FILE]" >&2; exit 2 ;;
  esac
done
[[ $seconds =~ ^[1-9][0-9]?$ && $rounds =~ ^([1-9]|1[0-9])$ ]] || { echo "bench: -d 1..99, -r 1..19" >&2; exit 2; }
[[ $soak =~ ^([0-9]|[1-5][0-9]|60)$ ]] || { echo "bench: -s 1..60 (minutes)" >&2; exit 2; }
[[ ,$sections, =~ ^(,(correlator|rate|cost|startup|scale))+,$ ]] ||
  { echo "bench: -k takes sections among $SECTIONS, comma-separated (got '$sections')" >&2; exit 2; }
((soak == 0)) || [[ $sections == "$SECTIONS" && -z $baseline ]] || { echo "bench: -k and -b go without -s (the soak is one run)" >&2; exit 2; }
[[ -z $baseline || -x $baseline ]] || { echo "bench: -b $baseline is not an executable svctrace" >&2; exit 2; }
[[ -z $baseline ]] || baseline=$(realpath "$baseline")
kernels_re='^[0-9. ]*$'
[[ $vm_kernels =~ $kernels_re ]] || { echo "bench: -V takes kernel versions of tests/vm/run.sh, e.g. \"6.1 6.12\"" >&2; exit 2; }
((soak == 0)) || [[ -z $vm_kernels ]] || { echo "bench: -V goes without -s" >&2; exit 2; }
vm_sections=$(tr , '\n' <<<"$sections" | { grep -xE 'rate|cost' || true; } | paste -sd, -)
[[ -z $vm_kernels || -n $vm_sections ]] || { echo "bench: -V runs the rate and cost sections, and -k chose neither" >&2; exit 2; }
# Inside a kernel VM (-V), this script runs again with BENCH_IN_VM=1: nothing to install or build (the
# guest has no network and sees the host's files), and its tables give ratios only.
IN_VM=${BENCH_IN_VM:-0}
# want SECTION: whether -k chose it.
want() { [[ ,$sections, == *,$1,* ]]; }
[[ -n $out ]] || { ((soak)) && out=bench/SOAK.md || out=bench/RESULTS.md; }
((EUID == 0)) || { echo "bench: must run as root (BPF, network namespaces)" >&2; exit 1; }

# What is measured, taken now: the table written at the end would itself count as a change.
REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes')"

if ((!IN_VM)); then
  bash scripts/install-deps.sh --bench
  ((soak)) || [[ -z $vm_kernels ]] || bash scripts/install-deps.sh --vm
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSVCTRACE_SANITIZE=OFF >/dev/null
  cmake --build build -j"$(nproc)" --target svctrace connload synflood bench_correlator nf_floor
fi
# SVCTRACE: the svctrace under test, this tree's build unless set (e.g. another commit's, with -b the one to compare it with).
SVCTRACE=${SVCTRACE:-$ROOT/build/svctrace}
CONNLOAD=$ROOT/build/bench/connload
SYNFLOOD=$ROOT/build/bench/synflood
NF_FLOOR=$ROOT/build/bench/nf_floor

P=bench$$
NODE=$P-node
API=$P-api
SVC=172.24.0.2
MATCH_ALL=172.24.0.0/13
MATCH_NONE=198.18.0.0/15 # benchmarking range (RFC 2544): no traffic here goes there
TMP=$(mktemp -d /tmp/svctrace-bench.XXXXXX)
STATS_BEFORE=$(sysctl -n kernel.bpf_stats_enabled)
TRACER_PID=""
SVC_PID=""

cleanup() {
  set +e
  [[ -n ${TRACER_PID:-} ]] && kill -KILL "$TRACER_PID" 2>/dev/null
  [[ -n ${SVC_PID:-} ]] && kill -KILL "$SVC_PID" 2>/dev/null # under GNU time, svctrace is its child
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
    kill -0 "$pid" 2>/dev/null || {
      echo "bench: process $pid exited before '$re' appeared in $file:" >&2
      tail -5 "$file" >&2
      # a tracer says why on its stderr
      [[ $file == "$TMP/tracer.err" || ! -s $TMP/tracer.err ]] || { echo "its stderr:" >&2; tail -5 "$TMP/tracer.err" >&2; }
      exit 1
    }
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
server_bound=$(((rounds * 9 + 10) * (seconds + 30) + soak * 60 + 120))
ip netns exec "$API" "$CONNLOAD" server --listen 10.0.0.8:7443 --seconds "$server_bound" >"$TMP/server.out" 2>&1 &
wait_line "$TMP/server.out" '^listening' $! 10

# load: one bounded run of the client in the node namespace; prints connections per second, and the
# number of connections made.
load() {
  local result
  result=$(ip netns exec "$NODE" "$CONNLOAD" client --connect "$SVC:80" --seconds "$seconds") ||
    load_errors_tolerated "$result" || {
    echo "bench: connload failed: $result" >&2
    exit 1
  }
  jq -r '"\(.per_second) \(.connections)"' <<<"$result"
}
# load_errors_tolerated RESULT: in a VM only, a connect in a thousand may miss connload's 1 s
# deadline (a SYN the emulated api's full accept queue dropped waits 1 s for its retransmit); said on
# stderr, and the rate counts the connections made. On the host every error still ends the run.
load_errors_tolerated() {
  ((IN_VM)) || return 1
  jq -e '.connections > 0 and .errors * 1000 <= .connections' <<<"$1" >/dev/null || return 1
  echo "bench: tolerated in the VM: $(jq -c '{errors, connections, first_error}' <<<"$1")" >&2
}

# The flood's Service: 172.24.0.3, any port, DNAT to 10.0.0.8 keeping the port (conntrack needs a
# distinct reply tuple per flow: the source port and these 16 service ports give a million). The api
# drops those SYNs before anything answers (raw table: no conntrack of its own).
FLOOD_SVC=172.24.0.3
FLOOD_PORT=20000
FLOOD_PORTS=16
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d "$FLOOD_SVC/32" -p tcp -j DNAT --to-destination 10.0.0.8
ip netns exec "$API" iptables -t raw -A PREROUTING -p tcp --dport "$FLOOD_PORT:$((FLOOD_PORT + FLOOD_PORTS - 1))" -j DROP

# flood RATE COUNT SECONDS [THREADS]: unanswered SYNs from the node's enslf0 address; prints synflood's JSON.
flood() {
  ip netns exec "$NODE" "$SYNFLOOD" --src 10.0.0.12 --dst "$FLOOD_SVC" --dport "$FLOOD_PORT" \
    --dport-count "$FLOOD_PORTS" --rate "$1" --count "$2" --seconds "$3" --threads "${4:-1}"
}

# --- tracers: start_X returns once X is tracing; stop_tracer ends it --------------------------------

# (A background job of a non-interactive shell has SIGINT ignored; each tracer gets it back.)
start_svctrace() { # CIDR [BINARY [ARGS...]]
  (
    trap - INT QUIT
    exec "${2:-$SVCTRACE}" --netns "$NODE" --cidr "$1" --json "${@:3}"
  ) >"$TMP/tracer.out" 2>"$TMP/tracer.err" &
  TRACER_PID=$!
  wait_line "$TMP/tracer.out" '"type":"ready"' "$TRACER_PID" 20
}
start_none() { :; }
start_floor() { # not a tracer: the empty programs of bench/floor.bpf.c, for the per-program floor
  (
    trap - INT QUIT
    exec ip netns exec "$NODE" "$NF_FLOOR" --seconds 600
  ) >"$TMP/tracer.out" 2>"$TMP/tracer.err" &
  TRACER_PID=$!
  wait_line "$TMP/tracer.out" '^ready' "$TRACER_PID" 20
}
start_svctrace_none() { start_svctrace "$MATCH_NONE"; }
start_svctrace_all() { start_svctrace "$MATCH_ALL"; }
start_svctrace_pcap() { start_svctrace "$MATCH_ALL" "" --pcap "$TMP/trace.pcapng"; }
start_baseline_none() { start_svctrace "$MATCH_NONE" "$baseline"; }
start_baseline_all() { start_svctrace "$MATCH_ALL" "$baseline"; }
start_tcpdump() {
  (
    trap - INT QUIT
    exec ip netns exec "$NODE" tcpdump -Z root -i enslf0 -w "$TMP/capture.pcap" 'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0'
  ) >"$TMP/tracer.out" 2>"$TMP/tracer.err" &
  TRACER_PID=$!
  wait_line "$TMP/tracer.err" 'listening on enslf0' "$TRACER_PID" 20
}
start_bpftrace() {
  # bpftrace finds tracepoints through tracefs, which this machine does not mount: mounted, when it is
  # not already (perf mounts it for good, for one), in a private mount namespace seen by bpftrace alone.
  (
    trap - INT QUIT
    exec unshare -m --propagation private sh -c \
      'mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing && exec bpftrace "$0"' "$ROOT/bench/peer.bt"
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
  rm -f "$TMP/capture.pcap" "$TMP/trace.pcapng"
}

# start_svctrace_timed STDOUT ARGS...: svctrace matching all the traffic under GNU time (its peak RSS
# goes to $TMP/maxrss, in KiB), stdout to STDOUT; returns once it is ready. SVC_PID: svctrace itself.
start_svctrace_timed() {
  local dest=$1 i
  shift
  rm -f "$TMP/ready"
  (
    trap - INT QUIT
    exec /usr/bin/time -f '%M' -o "$TMP/maxrss" "$SVCTRACE" --netns "$NODE" --cidr "$MATCH_ALL" --json \
      --ready-file "$TMP/ready" "$@"
  ) >"$dest" 2>"$TMP/tracer.err" &
  TRACER_PID=$!
  for ((i = 0; i < 2000; i++)); do
    [[ -e $TMP/ready ]] && break
    kill -0 "$TRACER_PID" 2>/dev/null || { echo "bench: svctrace exited before it was ready:" >&2; tail -5 "$TMP/tracer.err" >&2; exit 1; }
    sleep 0.01
  done
  [[ -e $TMP/ready ]] || { echo "bench: svctrace not ready within 20 s" >&2; exit 1; }
  SVC_PID=$(pgrep -P "$TRACER_PID")
}
# stop_svctrace_timed: SIGINT, and its exit status in SVC_RC (GNU time passes it on).
stop_svctrace_timed() {
  kill -INT "$SVC_PID"
  SVC_RC=0
  wait "$TRACER_PID" || SVC_RC=$?
  TRACER_PID=""
  SVC_PID=""
}

# --- the soak (-s MINUTES), instead of everything else ---------------------------------------------

run_soak() {
  local secs=$((soak * 60)) t0 elapsed conn_pid flood_pid grep_pid
  echo "== soak: $soak min of answered (1000/s) and unanswered (100/s) connections"
  # Only the stats and summary lines are kept: the flow lines would be hundreds of MB.
  mkfifo "$TMP/soak.fifo"
  grep --line-buffered -E '"type":"(stats|summary)"' <"$TMP/soak.fifo" >"$TMP/soak.out" &
  grep_pid=$!
  # A table of 16384 flows is full within a minute at this load (unanswered flows stay in it until
  # evicted): the rest of the soak runs at the bound. With the default 65536, the table and RSS
  # grow for ~9 minutes before they reach theirs.
  start_svctrace_timed "$TMP/soak.fifo" --stats-interval 10 --max-flows 16384
  ip netns exec "$NODE" "$CONNLOAD" client --connect "$SVC:80" --seconds "$secs" --rate 1000 >"$TMP/soak.conn" 2>&1 &
  conn_pid=$!
  flood 100 $((secs * 100)) "$secs" >"$TMP/soak.flood" 2>&1 &
  flood_pid=$!
  t0=$(now_us)
  : >"$TMP/soak.rss"
  while kill -0 "$conn_pid" 2>/dev/null || kill -0 "$flood_pid" 2>/dev/null; do
    elapsed=$((($(now_us) - t0) / 1000000))
    ((elapsed <= secs + 60)) || { echo "bench: the soak's load did not end" >&2; exit 1; }
    kill -0 "$SVC_PID" 2>/dev/null || { echo "bench: svctrace died during the soak:" >&2; tail -5 "$TMP/tracer.err" >&2; exit 1; }
    echo "$elapsed $(awk '/^VmRSS/ { print $2 }' "/proc/$SVC_PID/status")" >>"$TMP/soak.rss"
    sleep 10
  done
  wait "$conn_pid" || true
  wait "$flood_pid" || true
  sleep 3 # the last unanswered flows wait out --unanswered-after (1.5 s) before they are diagnosed
  stop_svctrace_timed
  wait "$grep_pid" || true

  local sent conns conn_errors summary diagnoses drops evicted half rss_first rss_second flows_first flows_second
  sent=$(jq .sent "$TMP/soak.flood")
  conns=$(jq .connections "$TMP/soak.conn")
  conn_errors=$(jq .errors "$TMP/soak.conn")
  summary=$(grep '"type":"summary"' "$TMP/soak.out")
  diagnoses=$(jq .diagnoses <<<"$summary")
  drops=$(jq .stats.ringbuf_drops <<<"$summary")
  evicted=$(jq .stats.flows_evicted <<<"$summary")
  # Flat: the second half's peak against the first half's, after a minute of warm-up.
  half=$((secs / 2))
  rss_first=$(awk -v h="$half" '$1 >= 60 && $1 < h && $2 > m { m = $2 } END { print m + 0 }' "$TMP/soak.rss")
  rss_second=$(awk -v h="$half" '$1 >= h && $2 > m { m = $2 } END { print m + 0 }' "$TMP/soak.rss")
  jq -r 'select(.type == "stats") | .flows' "$TMP/soak.out" >"$TMP/soak.flows"
  local n
  n=$(wc -l <"$TMP/soak.flows")
  flows_first=$(awk -v n="$n" 'NR > 6 && NR <= n / 2 && $1 > m { m = $1 } END { print m + 0 }' "$TMP/soak.flows")
  flows_second=$(awk -v n="$n" 'NR > n / 2 && $1 > m { m = $1 } END { print m + 0 }' "$TMP/soak.flows")
  verdict() { if eval "$1"; then echo met; else echo "**missed**"; fi; }
  {
    echo "# svctrace soak"
    echo
    echo "Written by \`scripts/bench.sh -s $soak\` on $(date -u +%Y-%m-%dT%H:%M:%SZ), svctrace"
    echo "$REVISION, kernel $(uname -r), $(nproc) CPUs."
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared)."
    echo
    echo "One svctrace (--json --max-flows 16384: the table is full within a minute) for $soak min while \`bench/connload\` made 1000 answered connections/s"
    echo "through 172.24.0.2:80 and \`bench/synflood\` 100 unanswered SYNs/s to $FLOOD_SVC (dropped by the api)."
    echo "RSS sampled every 10 s; flow table from the stats lines (every 10 s). "First half" starts after 1 min."
    echo
    echo "| | measured | target |"
    echo "| --- | ---: | --- |"
    echo "| answered connections made (errors) | $conns ($conn_errors) | |"
    echo "| unanswered flows sent / diagnosed | $sent / $diagnoses | all: $(verdict "((diagnoses >= sent))") |"
    echo "| ring-buffer drops | $drops | |"
    echo "| flows evicted from the table | $evicted | |"
    echo "| svctrace exit status after SIGINT | $SVC_RC | 3 (a clean exit, diagnoses made): $(verdict "((SVC_RC == 3))") |"
    echo "| peak RSS, first half / second half | $((rss_first / 1024)) / $((rss_second / 1024)) MiB | flat (second ≤ first + 5 %): $(verdict "((rss_second * 100 <= rss_first * 105))") |"
    echo "| peak RSS over the whole run (GNU time) | $(($(tail -1 "$TMP/maxrss") / 1024)) MiB | |"
    echo "| flow table, largest in first half / second half | $flows_first / $flows_second | flat (second ≤ first + 5 %): $(verdict "((flows_second * 100 <= flows_first * 105))") |"
    echo
    echo "RSS (MiB) and flow table, one sample a minute:"
    echo
    echo "| minute | RSS | flows |"
    echo "| ---: | ---: | ---: |"
    local m
    for ((m = 1; m <= soak; m++)); do
      printf '| %d | %s | %s |\n' "$m" \
        "$(awk -v t=$((m * 60)) '$1 <= t { v = $2 } END { printf "%.1f", v / 1024 }' "$TMP/soak.rss")" \
        "$(sed -n "$((m * 6))p" "$TMP/soak.flows")"
    done
  } >"$out"
  cat "$out"
}
if ((soak)); then
  run_soak
  exit 0
fi

CONFIGS=(none floor svctrace_none svctrace_all svctrace_pcap tcpdump bpftrace)
# In a VM the peers are left out: bpftrace compiles its script with LLVM at start, minutes under TCG,
# and the ratios there are svctrace's against the floor.
COST_PEERS=(bpftrace) # the peer the cost section measures too
((!IN_VM)) || { CONFIGS=(none floor svctrace_none svctrace_all svctrace_pcap); COST_PEERS=(); }
BASELINES=()
[[ -z $baseline ]] || BASELINES=(baseline_none baseline_all)
CONFIGS+=("${BASELINES[@]}")
declare -A LABEL=(
  [none]="no tracer"
  [floor]="empty BPF programs where svctrace attaches (bench/nf_floor)"
  [svctrace_none]="svctrace, CIDR matching nothing ($MATCH_NONE)"
  [svctrace_all]="svctrace, CIDR matching all the traffic ($MATCH_ALL)"
  [svctrace_pcap]="svctrace, matching all the traffic, --pcap FILE"
  [tcpdump]="tcpdump -w file, SYN/RST filter, on enslf0"
  [bpftrace]="bpftrace, bench/peer.bt (same tracepoints)"
  [baseline_none]="baseline (-b), CIDR matching nothing"
  [baseline_all]="baseline (-b), CIDR matching all the traffic"
)
declare -A RATES=() RATIOS=() BUSY=() BUSY_RATIOS=() LOST=() CPU=()
PCAP_KEPT=0 # the packets svctrace --pcap put in its file over the rounds: the load's flows are all answered
HZ=$(getconf CLK_TCK)

# cpu_ticks: user + system CPU time the running tracer has used, in clock ticks (0 with none).
cpu_ticks() {
  [[ -n $TRACER_PID ]] || { echo 0; return; }
  sed 's/^.*) //' "/proc/$TRACER_PID/stat" | awk '{ print $12 + $13 }'
}

# settle: returns once the running tracer has finished its start-up work, its CPU time unchanged for
# 0.3 s (at most 10 s): svctrace reads the conntrack table after its ready line, which holds the
# connections of the runs before (~5 µs of CPU each). The load measures tracing, not starting.
settle() {
  [[ -n $TRACER_PID ]] || return 0
  local last=-1 now i still=0
  for ((i = 0; i < 200 && still < 6; i++)); do
    now=$(cpu_ticks)
    if ((now == last)); then still=$((still + 1)); else still=0; fi
    last=$now
    sleep 0.05
  done
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

# spread: "median (lower quartile–upper quartile)" of the numbers on stdin, with 3 decimals.
spread() {
  tr ' ' '\n' | grep . | sort -g | awk '
    function at(q,   i) { i = 1 + q * (NR - 1); return v[int(i)] + (i - int(i)) * (v[int(i) + 1] - v[int(i)]) }
    { v[NR] = $1 }
    END { printf "%.3f (%.3f–%.3f)", at(0.5), at(0.25), at(0.75) }'
}
median() { spread | cut -d' ' -f1; }
# busy_ticks: CPU time the whole machine has spent working (user, nice, system, irq, softirq; not idle,
# iowait or steal, the time the hypervisor gave to others), in clock ticks.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# --- 1. userspace throughput --------------------------------------------------------------------------

if want correlator; then
  echo "== correlator and session throughput"
  build/bench/bench_correlator --benchmark_format=json --benchmark_min_time=1 >"$TMP/correlator.json"
  correlator_rows=$(jq -r '.benchmarks[] | if .changes then
      "| `\(.name)` | \(.items_per_second / 1e6 * 100 | round / 100) M events/s | \(.changes / 2 | round) flows |"
    elif .diagnosed then
      "| `\(.name)` | \(.items_per_second / 1e3 | round) k flows/s (a flow line and a diagnosis line each) | \(.diagnosed | round) flows |"
    else
      "| `\(.name)` | \(.items_per_second / 1e3 | round) k connections/s (\(if (.name | endswith("all_flows:1")) then "a flow line and an outcome line each" else "counted per service" end)) | \(.flows | round) flows |"
    end' "$TMP/correlator.json")
fi

# --- 2. connection rate ---------------------------------------------------------------------------------

if want rate; then
  echo "== connection rate: $rounds rounds of ${#CONFIGS[@]} runs of $seconds s"
  declare -A round_rate=() round_busy=()
  for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < ${#CONFIGS[@]}; k++)); do
      c=${CONFIGS[(k + r) % ${#CONFIGS[@]}]}
      "start_$c"
      settle
      cpu0=$(cpu_ticks)
      busy0=$(busy_ticks)
      read -r rate conns < <(load)
      busy=$(($(busy_ticks) - busy0))
      CPU[$c]=$((${CPU[$c]:-0} + $(cpu_ticks) - cpu0))
      stop_tracer
      round_rate[$c]=$rate
      # the machine's working CPU per connection, in µs: the load's, the kernel's, and the tracer's
      round_busy[$c]=$(awk -v b="$busy" -v n="$conns" -v hz="$HZ" 'BEGIN { printf "%.2f", b * 1e6 / hz / n }')
      RATES[$c]+="$rate "
      BUSY[$c]+="${round_busy[$c]} "
      LOST[$c]=$((${LOST[$c]:-0} + $(lost "$c")))
      [[ $c != svctrace_pcap ]] || PCAP_KEPT=$((PCAP_KEPT + $(jq -r 'select(.type == "summary") | .stats.packets_in_pcap' "$TMP/tracer.out")))
      printf '   round %d  %-14s %8.0f conn/s %7.2f µs CPU/conn\n' $((r + 1)) "$c" "$rate" "${round_busy[$c]}"
    done
    # Each tracer against the no-tracer run of its own round: the machine's load drifts over minutes.
    for c in "${CONFIGS[@]}"; do
      RATIOS[$c]+="$(awk -v a="${round_rate[$c]}" -v b="${round_rate[none]}" 'BEGIN { print a / b }') "
      BUSY_RATIOS[$c]+="$(awk -v a="${round_busy[$c]}" -v b="${round_busy[none]}" 'BEGIN { print a / b }') "
    done
  done
fi

# --- 3. per-program cost --------------------------------------------------------------------------------

# prog_stats PID: "id name run_time_ns run_cnt" for every BPF program PID holds, sorted for join.
prog_stats() {
  local ids
  ids=$(grep -hs '^prog_id:' /proc/"$1"/fdinfo/* | awk '{ print $2 }' | sort -u | paste -sd, -)
  bpftool -j prog show | jq -r --argjson ids "[$ids]" \
    '.[] | select(.id as $i | $ids | index($i)) | "\(.id) \(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"' | sort -k1,1
}
# hook_of NAME: the hook a program of svctrace's or of bench/nf_floor runs at, so that the two line up.
hook_of() {
  case $1 in
    *route_tp* | *route_fexit*) echo fib_table_lookup ;;
    *hook_slow) echo nf_hook_slow ;;
    *dev_queue) echo net_dev_queue ;;
    *receive) echo netif_receive_skb ;;
    *local_out) echo "netfilter LOCAL_OUT" ;;
    *post_routing) echo "netfilter POST_ROUTING" ;;
    *pre_routing) echo "netfilter PRE_ROUTING" ;;
    *kfree_skb) echo kfree_skb ;;
    *tcp_state | *tcp_state_pr) echo inet_sock_set_state ;;
    *tcp_retransmit | *tcp_retrans_pr) echo tcp_retransmit_skb ;;
    *) echo "$1" ;;
  esac
}
declare -A COST_NS=() COST_N=() COST_PROG=() HOOK_SEEN=()
cost_hooks=() bpftrace_rows=""
if want cost; then
  echo "== per-program cost (kernel.bpf_stats_enabled=1 for these runs)"
  sysctl -qw kernel.bpf_stats_enabled=1
  for c in floor svctrace_none svctrace_all svctrace_pcap "${BASELINES[@]}" "${COST_PEERS[@]}"; do
    "start_$c"
    settle
    prog_stats "$TRACER_PID" >"$TMP/stats.before"
    load >/dev/null
    prog_stats "$TRACER_PID" >"$TMP/stats.after"
    stop_tracer
    while read -r name n ns; do
      if [[ $c == bpftrace ]]; then
        bpftrace_rows+="| \`$name\` | $n | $ns |"$'\n'
        continue
      fi
      hook=$(hook_of "$name")
      [[ -v HOOK_SEEN[$hook] || $c == floor ]] || { HOOK_SEEN[$hook]=1; cost_hooks+=("$hook"); }
      [[ $c == floor || $c == baseline_* ]] || COST_PROG[$hook]=$name
      COST_NS[$c,$hook]=$ns COST_N[$c,$hook]=$n
    done < <(join "$TMP/stats.before" "$TMP/stats.after" |
      awk '{ n = $7 - $4; printf "%s %d %s\n", $2, n, n ? sprintf("%.0f", ($6 - $3) / n) : "-" }')
  done
  sysctl -qw kernel.bpf_stats_enabled="$STATS_BEFORE"
fi

# cost_cell RUN HOOK: "ns (+ns above the floor)" of svctrace's program at HOOK in RUN.
# In a VM, where nanoseconds mean nothing: "N× the floor".
cost_cell() {
  local ns=${COST_NS[$1,$2]:--} floor=${COST_NS[floor,$2]:--}
  if [[ $ns == - ]]; then echo "-"
  elif [[ $floor == - ]]; then ((IN_VM)) && echo "- (no floor)" || echo "$ns"
  elif ((IN_VM)); then awk -v a="$ns" -v b="$floor" 'BEGIN { printf "%.1f× the floor", a / b }'
  else echo "$ns (+$((ns - floor)))"; fi
}

# --- 4. start-up ---------------------------------------------------------------------------------------

if want startup; then
  echo "== start-up and detach (5 runs)"
  startup_rows=""
  for ((i = 1; i <= 5; i++)); do
    t0=$(now_us)
    # (Not named SVC: bash unsets a coproc's NAME_PID when it ends, and cleanup reads SVC_PID.)
    coproc STARTUP { trap - INT QUIT; exec "$SVCTRACE" --netns "$NODE" --cidr "$MATCH_ALL" --json 2>/dev/null; }
    pid=$STARTUP_PID
    read -r -t 20 line <&"${STARTUP[0]}" || { echo "bench: svctrace printed no ready line" >&2; exit 1; }
    t1=$(now_us)
    [[ $line == *'"type":"ready"'* ]] || { echo "bench: svctrace's first line is not ready: $line" >&2; exit 1; }
    # What follows (the flows conntrack still holds from the runs before, then the summary) is read
    # and dropped: a full pipe would block svctrace.
    # (A coproc's descriptors are not inherited: a copy of it is.)
    exec {drain}<&"${STARTUP[0]}"
    cat <&"$drain" >/dev/null &
    exec {drain}<&-
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
fi

# --- 5. scale: unanswered SYNs ---------------------------------------------------------------------------

if want scale; then
  echo "== scale: a flood of unanswered SYNs"
  # The flood's conntrack entries expire after 1 s instead of 120: the node's table (262144 entries)
  # would fill in seconds, and the kernel would drop SYNs before svctrace's hooks see them.
  ip netns exec "$NODE" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_syn_sent=1
  # One sender thread tops out below 100 k/s under svctrace (its BPF programs run in the sender's
  # syscalls, its userspace takes most of the other CPU); a second lets the flood use whatever CPU
  # svctrace leaves. More threads than CPUs only contend. Paced, they take no more CPU than the rate needs.
  FLOOD_THREADS=$(($(nproc) < 2 ? 1 : 2))
  # scale_run RATE COUNT SECONDS ARGS...: one svctrace under one flood; sets F (synflood's JSON) and ST
  # (the report's stats).
  scale_run() {
    local rate=$1 count=$2 secs=$3
    shift 3
    start_svctrace_timed /dev/null --report "$TMP/scale.json" "$@"
    F=$(flood "$rate" "$count" "$secs" "$FLOOD_THREADS")
    sleep 3 # the last flows wait out --unanswered-after (1.5 s) before they are decided
    # Peak RSS while tracing; GNU time's figure adds the exit, where the report is built.
    HWM=$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$SVC_PID/status")
    stop_svctrace_timed
    ((SVC_RC == 3)) || { echo "bench: svctrace exited with $SVC_RC (not 3, diagnosed) under the flood:" >&2; tail -5 "$TMP/tracer.err" >&2; exit 1; }
    ST=$(jq -c .stats "$TMP/scale.json")
  }
  scale_rows=""
  best=0
  for rate in 20000 30000 40000 50000 70000 100000 120000 150000 200000 250000; do
    scale_run "$rate" $((rate * 4)) 6 --max-flows 262144
    read -r sent achieved < <(jq -r '"\(.sent) \(.per_second | round)"' <<<"$F")
    # diagnosed: the flows in a diagnosis, those that joined a flow of their cause under the flood included
    read -r events drops diagnoses evicted < <(jq -r '"\(.events) \(.ringbuf_drops) \(.flows_diagnosed) \(.flows_lost_undecided)"' <<<"$ST")
    printf '   %6d/s asked, %6d/s sent: %d flows, %d diagnosed, %d ring-buffer drops\n' "$rate" "$achieved" "$sent" "$diagnoses" "$drops"
    scale_rows+="| $rate | $achieved | $sent | $events | $diagnoses | $evicted | $drops | $HWM MiB | $(($(tail -1 "$TMP/maxrss") / 1024)) MiB |"$'\n'
    ((drops == 0 && diagnoses >= sent)) && best=$achieved
    ((drops == 0 && achieved * 10 >= rate * 9)) || break # lost events, or the sender's own limit
  done
  million_rate=$((best > 100000 ? 100000 : best > 0 ? best : 25000))
  echo "== scale: 1 million unanswered flows at $million_rate/s, svctrace's defaults"
  scale_run "$million_rate" 1000000 120
  million_rss=$(($(tail -1 "$TMP/maxrss") / 1024))
  million_row="| $(jq .sent <<<"$F") | $(jq '.per_second | round' <<<"$F") | $(jq -r '"\(.events) | \(.flows_diagnosed) | \(.flows_joined) | \(.flows_lost_undecided) | \(.bpf_flows_evicted) | \(.ringbuf_drops)"' <<<"$ST") | $HWM MiB | $million_rss MiB |"

  # --pcap under the flood (issue 19): each run beside the same without it. pcap_row RUN [FILE]: a row of
  # the run just made; packets in the file per second of the flood (synflood's own seconds).
  pcap_row() {
    local size=-
    [[ -z ${2:-} ]] || { size="$(($(stat -c %s "$2") / 1024)) KiB"; rm -f "$2"; }
    echo "| $1 | $(jq .sent <<<"$F") | $(jq '.per_second | round' <<<"$F") | $(jq -r --argjson s "$(jq .seconds <<<"$F")" \
      '"\(.flows_diagnosed) | \(.ringbuf_drops) | \(.packets_in_pcap // "-") | \(if .packets_in_pcap then (.packets_in_pcap / $s | round) else "-" end) | \(.packets_not_in_pcap // "-")"' <<<"$ST") | $size | $HWM MiB | $(($(tail -1 "$TMP/maxrss") / 1024)) MiB |"
  }
  pcap_rows=$(pcap_row "1 million, defaults")$'\n'
  echo "== scale: the same with --pcap FILE"
  scale_run "$million_rate" 1000000 120 --pcap "$TMP/scale.pcapng"
  pcap_rows+=$(pcap_row "1 million, defaults, --pcap" "$TMP/scale.pcapng")$'\n'
  # Every flow diagnosed and every packet kept: what the capture path itself carries, for 2 s of flood.
  pcap_flows=$((million_rate * 2))
  echo "== scale: $pcap_flows flows at $million_rate/s, --max-flows 262144, without and with --pcap keeping every packet"
  scale_run "$million_rate" "$pcap_flows" 60 --max-flows 262144
  pcap_rows+=$(pcap_row "$pcap_flows, --max-flows 262144")$'\n'
  scale_run "$million_rate" "$pcap_flows" 60 --max-flows 262144 --pcap "$TMP/scale.pcapng" --pcap-max-packets $((pcap_flows * 4))
  pcap_rows+=$(pcap_row "$pcap_flows, --max-flows 262144, --pcap --pcap-max-packets $((pcap_flows * 4))" "$TMP/scale.pcapng")$'\n'
fi

# --- the table ------------------------------------------------------------------------------------------

{
  echo "# svctrace benchmark results"
  echo
  echo "Written by \`scripts/bench.sh -d $seconds -r $rounds$([[ $sections == "$SECTIONS" ]] || echo " -k $sections")${baseline:+ -b BASELINE}\` on $(date -u +%Y-%m-%dT%H:%M:%SZ), svctrace"
  echo "$REVISION, kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))."
  [[ $SVCTRACE == "$ROOT/build/svctrace" ]] || echo "svctrace under test: $SVCTRACE (SVCTRACE)."
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared: compare within a run)."
  [[ -z $baseline ]] || echo "Baseline (-b): $baseline, $("$baseline" --version 2>/dev/null | head -1)."
  if want rate; then
    echo
    echo "## Connection rate through a DNAT'd Service IP"
    echo
    echo "\`bench/connload\` in the lab's node namespace: connect to 172.24.0.2:80 (DNAT 10.0.0.8:7443 in the"
    echo "api namespace), close with a reset; one thread, $seconds s per run, $rounds rounds. In each round every"
    echo "configuration runs once, in an order that rotates from round to round, and is compared with the"
    echo "round's own no-tracer run: a ratio is the median of the $rounds rounds' ratios, with the lower and upper"
    echo "quartiles in brackets (the middle half of the rounds lies between them)."
    echo "Machine CPU per connection: the time both CPUs spent working (user, system, irq and softirq: the"
    echo "load, the kernel's network path with every BPF program in it, and the tracer's own process; not"
    echo "steal, the time the hypervisor gave to other machines) divided by the connections made."
    echo "Targets (issue 6): at most 3 % loss when nothing matches, 8 % when everything does, cheaper than each peer."
    echo "Target (issue 19): --pcap FILE costs nothing measurable beside svctrace matching all without it. Every"
    echo "connection of the load is answered, so none of its packets belongs in the file: it held $PCAP_KEPT over the $rounds runs."
    echo
    if ((IN_VM)); then
      echo "In a VM under qemu's TCG: ratios only."
      echo
      echo "| tracer | connections/s: ratio to no tracer | machine CPU per connection: ratio to no tracer | events it lost |"
      echo "| --- | ---: | ---: | ---: |"
      for c in "${CONFIGS[@]}"; do
        [[ $c == none ]] || echo "| ${LABEL[$c]} | $(spread <<<"${RATIOS[$c]}") | $(spread <<<"${BUSY_RATIOS[$c]}") | ${LOST[$c]} |"
      done
    else
      echo "| tracer | connections/s | ratio to no tracer | machine CPU per connection | its ratio to no tracer | tracer process CPU | events it lost |"
      echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
      for c in "${CONFIGS[@]}"; do
        printf '| %s | %.0f | %s | %.1f µs | %s | %s | %s |\n' "${LABEL[$c]}" "$(median <<<"${RATES[$c]}")" \
          "$([[ $c == none ]] && echo 1 || spread <<<"${RATIOS[$c]}")" "$(median <<<"${BUSY[$c]}")" \
          "$([[ $c == none ]] && echo 1 || spread <<<"${BUSY_RATIOS[$c]}")" \
          "$([[ $c == none ]] && echo - || awk -v t="${CPU[$c]}" -v hz="$HZ" -v s=$((seconds * rounds)) 'BEGIN { printf "%.0f %% of a core", 100 * t / hz / s }')" \
          "$([[ $c == none ]] && echo - || echo "${LOST[$c]}")"
      done
      echo
      echo "Tracer process CPU: user + system time of the tracer's own process during the load. Its BPF programs"
      echo "run in the context of the traffic instead: their cost shows in the connection rate and the machine's CPU."
      echo
      echo "Each round's connections/s:"
      echo
      echo "| tracer | $(for ((r = 1; r <= rounds; r++)); do printf '%d | ' "$r"; done)"
      echo "| --- | $(for ((r = 1; r <= rounds; r++)); do printf -- '---: | '; done)"
      for c in "${CONFIGS[@]}"; do
        echo "| $c | $(for v in ${RATES[$c]}; do printf '%.0f | ' "$v"; done)"
      done
    fi
  fi
  if want cost; then
    echo
    echo "## Per-program cost (kernel.bpf_stats_enabled), during one $seconds s run of the same load"
    echo
    echo "ns per invocation, averaged over every invocation: tracepoint programs run for every event on the"
    echo "machine (other namespaces included), most of them not for a service flow. Targets (issue 6): 50 ns"
    echo "for a non-matching packet, 200 ns for a matching one. \"floor\": bench/nf_floor's programs, which"
    echo "return at once, at the same netfilter hooks (one priority after svctrace's) and tracepoints, under"
    echo "the same load: what being called costs here, the statistics' own clock reads included; no program"
    echo "can show less. In brackets, svctrace's figure less the floor: what its own instructions cost."
    echo
    if [[ -n $baseline ]]; then
      echo "The baseline (-b) columns: the other build's programs at the same hook, in the same run."
      echo
    fi
    local_unit="ns (above the floor)"
    ((IN_VM)) && local_unit="cost"
    echo "| hook | svctrace's program | floor | nothing matching: invocations | $local_unit | all matching: invocations | $local_unit | all matching, --pcap: invocations | $local_unit |${baseline:+ baseline, nothing matching | baseline, all matching |}"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${baseline:+ ---: | ---: |}"
    for hook in "${cost_hooks[@]}"; do
      echo "| $hook | \`${COST_PROG[$hook]:--}\` | ${COST_NS[floor,$hook]:--} | ${COST_N[svctrace_none,$hook]:--} | $(cost_cell svctrace_none "$hook") | ${COST_N[svctrace_all,$hook]:--} | $(cost_cell svctrace_all "$hook") | ${COST_N[svctrace_pcap,$hook]:--} | $(cost_cell svctrace_pcap "$hook") |${baseline:+ $(cost_cell baseline_none "$hook") | $(cost_cell baseline_all "$hook") |}"
    done
  fi
  if want cost && ((!IN_VM)); then
    echo
    echo "bpftrace running bench/peer.bt on the same load, for comparison:"
    echo
    echo "| program | invocations | ns per invocation |"
    echo "| --- | ---: | ---: |"
    printf '%s' "$bpftrace_rows"
  fi
  if want correlator; then
    echo
    echo "## Userspace: the correlator (bench/bench_correlator.cpp)"
    echo
    echo "Synthetic events of 50000 (or 200000, through the default 65536-flow table) connects, one thread."
    echo "Target: 2 million events/s. \`session_flood\`: a whole session (--json to /dev/null, a fake node) fed"
    echo "50000 unanswered one-event flows as in the SYN flood below, each printed and diagnosed."
    echo "\`session_answered\`: the same fed the connection-rate load below as svctrace sees it when it matches:"
    echo "60000 answered connections (route lookup, SYN, SYN-ACK, state change), ports wrapping every 28000."
    echo
    echo "| benchmark | throughput | flows decided |"
    echo "| --- | ---: | ---: |"
    echo "$correlator_rows"
  fi
  if want startup; then
    echo
    echo "## Start-up and detach"
    echo
    echo "Launch to the ready line (every program loaded and attached), SIGINT to exit, SIGINT to the last"
    echo "program gone from \`bpftool prog show\` (polled: ~50 ms resolution). Targets: 300 ms, 1 s."
    echo
    echo "| run | launch to ready | SIGINT to exit | SIGINT to all programs gone |"
    echo "| ---: | ---: | ---: | ---: |"
    printf '%s' "$startup_rows"
  fi
  if want scale; then
    echo
    echo "## Scale: a flood of unanswered SYNs"
    echo
    echo "\`bench/synflood --threads $FLOOD_THREADS\` in the node namespace: SYNs from raw sockets (one a thread), each from a"
    echo "source port of its own, to $FLOOD_SVC (DNAT 10.0.0.8, port kept; the api drops them), paced to each rate"
    echo "for 4 s, rising until svctrace drops an event or the sender reaches less than 90 % of the rate asked."
    echo "svctrace matches all of it, --json to /dev/null, --max-flows 262144 (every flow stays until it has"
    echo "waited out --unanswered-after, 1.5 s). Target: 100 k flows/s with no ring-buffer drop."
    echo "Highest rate with every flow diagnosed and no drop: **$best flows/s**."
    echo
    echo "\"Diagnosed\": the flows in a diagnosis, each flow that joined a flow of its cause (the table full) included;"
    echo "\"lost\": the flows the table evicted before they were decided that joined no flow of their cause."
    echo
    echo "| asked /s | sent /s | flows sent | events | diagnosed | lost | ring-buffer drops | peak RSS tracing | peak RSS with exit |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s' "$scale_rows"
    echo
    echo "1 million unanswered flows at $million_rate/s with svctrace's defaults (--max-flows 65536, 4 MiB ring"
    echo "buffer): under the flood, an undecided flow that makes room joins an older flow of its cause and is"
    echo "counted in its diagnosis (\"joined\"); one evicted otherwise is counted, not diagnosed."
    echo "Target: peak RSS bounded by the configuration, at most 128 MiB. \"Tracing\": VmHWM just before SIGINT;"
    echo "\"with exit\": GNU time's maximum, which adds the closing summary and --report (both build every flow"
    echo "still in the table as JSON)."
    echo
    echo "| flows sent | sent /s | events | flows diagnosed | of them joined | lost (table) | evicted (BPF map) | ring-buffer drops | peak RSS tracing | peak RSS with exit |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "$million_row"
    echo
    echo "With --pcap FILE (issue 19), each beside the same run without it (one after the other, not interleaved):"
    echo "the 1 million flows with svctrace's defaults (--pcap-max-packets 10000: the rest counted, not kept),"
    echo "and $pcap_flows flows (2 s of the flood) in a table large enough for every flow to be diagnosed, with every"
    echo "packet kept. \"Per second\": packets in the file per second of the flood. The file is written at exit."
    echo
    echo "| run | flows sent | sent /s | flows diagnosed | ring-buffer drops | packets in pcap | per second | not in pcap | file | peak RSS tracing | peak RSS with exit |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s' "$pcap_rows"
  fi
} >"$out"
cat "$out"

# --- the same in kernel VMs (-V) -------------------------------------------------------------------------

# This script again inside each VM, on the binaries built above; its table (from its title on) is
# appended to the host's, one heading level down. 1 GB of guest memory: in run.sh's default 512 MB a
# 6.1 guest's floor run made no connection at all (it ran at 1 GB).
for k in $vm_kernels; do
  echo "== Linux $k in a VM (qemu): $vm_sections"
  VM_MEM=${VM_MEM:-1G} VM_TIMEOUT=${VM_TIMEOUT:-3600} bash tests/vm/run.sh "$k" -- env BENCH_IN_VM=1 bash scripts/bench.sh -d "$seconds" -r "$rounds" \
    -k "$vm_sections" ${baseline:+-b "$baseline"} -o /tmp/bench-vm.md >"$TMP/vm.out" ||
    { echo "bench: the run inside Linux $k's VM failed:" >&2; tail -20 "$TMP/vm.out" >&2; exit 1; }
  {
    echo
    echo "# In a VM: Debian's Linux $k under qemu (TCG, no KVM)"
    sed -n '/^# svctrace benchmark results/,$p' "$TMP/vm.out" | tail -n +2 | sed 's/^## /## '"$k"': /'
  } | tee -a "$out"
done
