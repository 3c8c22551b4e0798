#!/usr/bin/env bash
# test_safe_fix on a node whose DNAT is nftables' (`lab up --nat nft`): the second service, whose
# backend is on enslf1's network, is an nft rule, and svctrace still narrows the fix to the failing
# service IP because of it. The report's config holds what that relied on: nft's ruleset and the
# service pairs read from both sources.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v nft >/dev/null || fail "nft is not installed (scripts/install-deps.sh installs nftables)"
lab up --nat nft >/dev/null
lab second-service >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
lab connect --timeout 2 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis"
assert_json "$diag" '.dnat.ip == "10.0.0.8" and .dnat.port == 6443' "DNATed by kube-proxy's nftables rules"
assert_json "$diag" '.fix == "ip route add 172.24.0.1/32 dev enslf0 src 10.0.0.12"' "fix narrowed to the service IP"
assert_json "$diag" '.fix_would_break == ["tcp 172.24.0.50:80 → 10.141.13.1 (leaves enslf1)"]' "names the nft service the wide fix breaks"
stop_svctrace
assert_exit 3
assert_report
assert_report_json '.config.nft_ruleset | fromjson | [.nftables[].table.name // empty] | index("kube-proxy") != null' \
  "report.config.nft_ruleset is nft's JSON"
assert_report_json '[.config.service_pairs[] | [.service.ip, .backend.ip, .found_in[0].rules]] |
  sort == [["172.24.0.1", "10.0.0.8", "nft"], ["172.24.0.10", "10.0.0.8", "nft"], ["172.24.0.50", "10.141.13.1", "nft"]]' \
  "report.config.service_pairs"
ip netns exec "$NODE" sh -c "$(jq -r .fix <<<"$diag")"
[[ $(lab connect --timeout 3) == *": ok" ]] || fail "the narrowed fix did not repair the service"
pass
