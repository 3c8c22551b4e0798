#!/usr/bin/env bash
# A/B comparison of svctrace builds under bench.sh's SYN flood (its part 5), in one lab, interleaved:
# for each round, each rate, each binary (in a rotating order) one svctrace matching all the flood
# (--json to /dev/null, --max-flows 262144) while bench/synflood sends RATE unanswered SYNs/s for
# SECONDS. Prints one line per run and, per binary and rate, the median ring-buffer drops and the
# median CPU time svctrace's process spent per event (user + system, from /proc, just before SIGINT).
#
# Usage: scripts/bench-flood.sh [-r ROUNDS] [-s SECONDS] [-R "RATE..."] [-t THREADS] [-p] BINARY...
#   -t: synflood's sender threads (default 2, as bench.sh on 2 CPUs)
#   -p: also `perf record -g` each run of the first binary at the first rate (to /tmp/svctrace-flood.perf.N)
# Needs root; the flood stays between the namespaces of this script's own lab (removed on exit).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
seconds=4
rates="50000 70000 100000"
threads=2
profile=0
while getopts "r:s:R:t:p" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    s) seconds=$OPTARG ;;
    R) rates=$OPTARG ;;
    t) threads=$OPTARG ;;
    p) profile=1 ;;
    *) echo "usage: $0 [-r ROUNDS] [-s SECONDS] [-R \"RATE...\"] [-t THREADS] [-p] BINARY..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# >= 1)) || { echo "usage: $0 [-r ROUNDS] [-s SECONDS] [-R \"RATE...\"] [-t THREADS] [-p] BINARY..." >&2; exit 2; }
[[ $rounds =~ ^[1-9]$ && $seconds =~ ^[1-9][0-9]?$ && $rates =~ ^[0-9\ ]+$ && $threads =~ ^[1-8]$ ]] ||
  { echo "bench-flood: -r 1..9, -s 1..99, -R numbers, -t 1..8" >&2; exit 2; }
((EUID == 0)) || { echo "bench-flood: must run as root (BPF, network namespaces)" >&2; exit 1; }
BINS=("$@")
for b in "${BINS[@]}"; do [[ -x $b ]] || { echo "bench-flood: $b is not an executable" >&2; exit 2; }; done
cmake --build build -j2 --target synflood >/dev/null
SYNFLOOD=$PWD/build/bench/synflood

P=flood$$
NODE=$P-node
API=$P-api
TMP=$(mktemp -d /tmp/svctrace-flood.XXXXXX)
SVC_PID=""
cleanup() {
  set +e
  [[ -n $SVC_PID ]] && kill -KILL "$SVC_PID" 2>/dev/null
  scripts/lab.sh down --prefix "$P" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The lab and the flood's Service exactly as bench.sh makes them.
scripts/lab.sh up --prefix "$P" >/dev/null
scripts/lab.sh fix --prefix "$P" >/dev/null
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.3/32 -p tcp -j DNAT --to-destination 10.0.0.8
ip netns exec "$API" iptables -t raw -A PREROUTING -p tcp --dport 20000:20015 -j DROP
ip netns exec "$NODE" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_syn_sent=1

# run BINARY RATE PERF_OUT: one svctrace under one flood; prints "sent sent_per_s events drops diagnoses cpu_ms".
run() {
  local bin=$1 rate=$2 perf_out=$3 i perf_pid="" ticks
  rm -f "$TMP/ready" "$TMP/report.json"
  "$bin" --netns "$NODE" --cidr 172.24.0.0/13 --json --max-flows 262144 --ready-file "$TMP/ready" \
    --report "$TMP/report.json" >/dev/null 2>"$TMP/err" &
  SVC_PID=$!
  for ((i = 0; i < 2000; i++)); do
    [[ -e $TMP/ready ]] && break
    kill -0 "$SVC_PID" 2>/dev/null || { echo "bench-flood: $bin exited:" >&2; tail -3 "$TMP/err" >&2; exit 1; }
    sleep 0.01
  done
  if [[ -n $perf_out ]]; then
    # shellcheck disable=SC2086 # PERF_ARGS: e.g. "--call-graph dwarf -F 499"
    perf record -q ${PERF_ARGS:--g} -p "$SVC_PID" -o "$perf_out" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  sent=$(ip netns exec "$NODE" "$SYNFLOOD" --src 10.0.0.12 --dst 172.24.0.3 --dport 20000 --dport-count 16 \
    --rate "$rate" --count $((rate * seconds)) --seconds $((seconds + 2)) --threads "$threads" | jq -r '"\(.sent) \(.per_second | round)"')
  sleep 3 # the last flows wait out --unanswered-after (1.5 s)
  ticks=$(sed 's/^.*) //' "/proc/$SVC_PID/stat" | awk '{ print $12 + $13 }')
  [[ -n $perf_pid ]] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
  kill -INT "$SVC_PID"
  wait "$SVC_PID" || true
  SVC_PID=""
  echo "$sent $(jq -r '"\(.stats.events) \(.stats.ringbuf_drops) \(.stats.diagnoses)"' "$TMP/report.json") \
$((ticks * 1000 / $(getconf CLK_TCK)))"
}

declare -A DROPS=() CPU=() SENT=()
for ((r = 0; r < rounds; r++)); do
  for rate in $rates; do
    for ((k = 0; k < ${#BINS[@]}; k++)); do
      b=$(((k + r) % ${#BINS[@]}))
      perf_out=""
      ((profile && b == 0 && rate == ${rates%% *})) && perf_out=/tmp/svctrace-flood.perf.$r
      read -r sent per_s events drops diagnoses cpu_ms < <(run "${BINS[b]}" "$rate" "$perf_out")
      printf 'round %d rate %6d %-28s sent %7d (%6d/s) events %7d drops %7d diagnosed %7d cpu %5d ms (%.2f us/event)\n' \
        $((r + 1)) "$rate" "${BINS[b]}" "$sent" "$per_s" "$events" "$drops" "$diagnoses" "$cpu_ms" \
        "$(awk -v c="$cpu_ms" -v e="$events" 'BEGIN { print e ? c * 1000 / e : 0 }')"
      DROPS[$b,$rate]+="$drops "
      SENT[$b,$rate]+="$per_s "
      CPU[$b,$rate]+="$(awk -v c="$cpu_ms" -v e="$events" 'BEGIN { print e ? c * 1000 / e : 0 }') "
    done
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "| binary | asked /s | sent /s (median) | median drops | drops each round | median CPU us/event |"
echo "| --- | ---: | ---: | ---: | --- | ---: |"
for ((b = 0; b < ${#BINS[@]}; b++)); do
  for rate in $rates; do
    printf '| %s | %d | %s | %s | %s | %.2f |\n' "${BINS[b]}" "$rate" "$(median <<<"${SENT[$b,$rate]}")" \
      "$(median <<<"${DROPS[$b,$rate]}")" \
      "${DROPS[$b,$rate]}" "$(median <<<"${CPU[$b,$rate]}")"
  done
done
