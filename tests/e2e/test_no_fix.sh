#!/usr/bin/env bash
# Issue 17's service (two_endpoints.sh) on a node whose NAT rules svctrace cannot read (neither
# iptables-save nor nft on its PATH, as where the service NAT is IPVS or an eBPF replacement of
# kube-proxy). It learns the healthy endpoint from the traced connection, so it knows every route fix
# would break it, and without the rules no source NAT can be written: no fix is printed, the conflict
# is named, and why.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=two_endpoints.sh
source "$(dirname "$0")/two_endpoints.sh"

two_endpoint_lab enslf1  # the healthy endpoint first: its pair is traced before the failure is diagnosed
mkdir -p "$WORK/bin"
SVC_WRAPPER=(env "PATH=$WORK/bin")
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60
diagnose_connects 2 1
assert_json "$DIAG" '.fix == null and .fix_checked_against == 0' "no fix printed"
assert_json "$DIAG" '.fix_conflicts == ["tcp 172.24.0.1:443 → 10.141.13.1 (leaves enslf1)"]' "the conflict named"
assert_json "$DIAG" '.no_fix_why | test("NAT rules")' "says why no source NAT either"
pass
