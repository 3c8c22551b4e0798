#!/usr/bin/env bash
# --pcap (issue 19): the packets of the diagnosed flows, as pcapng, read back with Debian's tshark.
# 1. The incident lab with a healthy service beside it (172.24.0.2:80, DNAT'd to a server on enslf1's
#    network): the failing flow's SYNs, its retransmit included, are in the file, each with a comment
#    naming where svctrace saw it and the verdict; the healthy flows, traced at the same time, have no
#    packet in it. The report names the diagnosis' frames, and `replay --pcap` of the recording
#    writes the same file.
# 2. The rp_filter lab: the SYN-ACK rp_filter dropped is in the file, with the kernel's drop reason.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v tshark >/dev/null || fail "tshark is not installed (scripts/install-deps.sh installs it)"
PCAP=$WORK/flows.pcapng

# packets FILE FIELDS...: one line per packet of the pcapng FILE, its FIELDS separated by '|'.
packets() {
  local file=$1 args=() f
  shift
  for f in "$@"; do args+=(-e "$f"); done
  tshark -r "$file" -T fields -E separator='|' "${args[@]}" 2>"$WORK/tshark.err" {E2E_OUT}>&- ||
    fail "tshark cannot read $file: $(cat "$WORK/tshark.err")"
}

lab up >/dev/null
healthy_service_up

# incident_with_healthy [ARGS...]: part 1, svctrace run with ARGS. With --all-flows every packet of
# every flow not yet answered reaches userspace, which keeps only the diagnosed flows'.
incident_with_healthy() {
  local made diag all syns stats frames line rc=0
  # (the run before's flows would be flows from before the start)
  ip netns exec "$NODE" conntrack -F >/dev/null 2>&1
  start_svctrace --netns "$NODE" --cidr "$CIDR" --json --pcap "$PCAP" --report "$REPORT" --record "$WORK/rec" \
    --duration 60 "$@"
  made=$(ip netns exec "$NODE" "$CONNLOAD" client --connect 172.24.0.2:80 --max 50 --seconds 30 {E2E_OUT}>&-)
  assert_json "$made" ".connections == 50 and .errors == 0" "50 answered connects to the healthy service"
  # 3 s: the first SYN and its retransmit 1 s later (the kernel's first retransmit timeout)
  lab_connect 3 >/dev/null && fail "the broken service answered"
  diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis within 10 s"
  assert_json "$diag" '.verdict == "asymmetric_source"' "verdict"
  stop_svctrace
  assert_exit 3
  assert_detached

  [[ -s $PCAP ]] || fail "no pcapng written: $(cat "$ERR")"
  all=$(packets "$PCAP" frame.number ip.src ip.dst tcp.dstport tcp.flags frame.comment frame.interface_name)
  echo "$all" >"$WORK/packets.txt"
  # The failing flow left by enslf0 (the route to the backend) from the source the service route chose.
  syns=$(grep -cE '^[0-9]+\|10\.141\.13\.182\|10\.0\.0\.8\|6443\|0x0*2\|' <<<"$all" || true)
  ((syns >= 2)) || fail "expected the failing flow's SYN and its retransmit (2 or more), found $syns: $all"
  grep -vqE '^[0-9]+\|10\.141\.13\.182\|10\.0\.0\.8\|6443\|' <<<"$all" &&
    fail "packets in the file that are not the failing flow's: $(grep -vE '\|10\.0\.0\.8\|6443\|' <<<"$all")"
  grep -q '|7443|' <<<"$all" && fail "a healthy flow's packet is in the file: $all"
  while IFS= read -r line; do
    [[ $line == *"svctrace: left by enslf0, after NAT"*"verdict: asymmetric_source (group 1)"* ]] ||
      fail "a packet's comment does not say where it was seen and the verdict: $line"
    [[ $line == *"|enslf0" ]] || fail "a packet's interface is not enslf0: $line"
  done <<<"$all"

  stats=$(jq -c .stats "$REPORT")
  assert_json "$stats" ".packets_in_pcap == $syns and .packets_not_in_pcap == 0" "the report counts the packets written"
  frames=$(jq -c '.diagnoses[0].pcap_frames' "$REPORT")
  assert_json "$frames" "length == $syns and .[0] == 1" "the diagnosis names its frames"

  # The recording carries the packets: replay writes the same file.
  "$SVCTRACE" replay "$WORK/rec" --json --pcap "$WORK/replayed.pcapng" >/dev/null 2>"$WORK/replay.err" {E2E_OUT}>&- || rc=$?
  [[ $rc == 3 ]] || fail "replay exit $rc, expected 3: $(cat "$WORK/replay.err")"
  cmp -s "$PCAP" "$WORK/replayed.pcapng" || fail "replay --pcap wrote another file than the live run"
}

incident_with_healthy
incident_with_healthy --all-flows

# 2. rp_filter drops the SYN-ACK: it is in the file with the kernel's reason.
lab rpfilter >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --pcap "$PCAP" --duration 60
lab_connect 3 >/dev/null && fail "the rp_filter lab answered"
wait_for_line '.type == "diagnosis"' 10 >/dev/null || fail "no diagnosis within 10 s (rp_filter)"
stop_svctrace
assert_exit 3
assert_detached
all=$(packets "$PCAP" ip.src tcp.flags frame.comment)
echo "$all" >"$WORK/rpfilter.txt"
grep -qE '^10\.0\.0\.8\|0x0*12\|svctrace: dropped by the kernel on enslf1: ' <<<"$all" ||
  fail "no dropped SYN-ACK from 10.0.0.8 on enslf1 in the file: $all"
grep -qE '^10\.141\.13\.182\|0x0*2\|svctrace: left by ' <<<"$all" || fail "the SYN is not in the file: $all"
if kernel_before 5.17; then
  skip "all else passed; kfree_skb gives no drop reason before Linux 5.17, so rp_filter is not named"
fi
grep -qE '^10\.0\.0\.8\|0x0*12\|svctrace: dropped by the kernel on enslf1: IP_RPFILTER' <<<"$all" ||
  fail "the dropped SYN-ACK's comment does not name IP_RPFILTER: $all"
pass
