#!/usr/bin/env bash
# The HTML report, as a person opens it: the incident (a SYN to the Service IP leaves with the source
# the default route chose and gets no answer) after a burst of healthy connects to another service,
# traced with `--report r.json --report r.html`; the page is loaded in a real headless Chromium and its
# DOM must hold the diagnosis, the offending route and the fix, the same flow as the JSON report, and
# a lane for the healthy backend (its flows counted in the kernel, none in the flow table) with its
# counts over time. A screenshot of it is kept in
# ${E2E_ARTIFACTS:-build/e2e-artifacts}/test_report_html/ with the page, for a person to look at.
# Chromium runs in a network namespace of its own with no device but a downed loopback, so the page
# cannot fetch anything even if it tried; the page itself must name nothing outside it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null || fail "chromium not installed (scripts/install-deps.sh installs it)"
command -v unshare >/dev/null || fail "unshare (util-linux) not installed"
ARTIFACTS=${E2E_ARTIFACTS:-$E2E_ROOT/build/e2e-artifacts}/$TEST_NAME
HTML=$WORK/report.html

HEALTHY=200

lab up >/dev/null
healthy_service_up
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --report "$HTML" --duration 60
made=$(ip netns exec "$NODE" "$CONNLOAD" client --connect 172.24.0.2:80 --max "$HEALTHY" --seconds 60 {E2E_OUT}>&-)
assert_json "$made" ".connections == $HEALTHY and .errors == 0" "$HEALTHY answered connects to the healthy service"
result=$(lab_connect 3) && fail "connect through the broken lab should fail, got: $result"
wait_for_line '.type == "diagnosis"' 10 >/dev/null || fail "no diagnosis line within 10 s of the failed connect"
stop_svctrace
assert_exit 3
assert_detached

# Both reports, from one trace: the JSON contract is unchanged, with the flow's timestamps added.
assert_report
assert_report_json 'any(.diagnoses[]; .verdict == "asymmetric_source")' "the JSON report has the diagnosis"
assert_report_json 'any(.flows[]; .verdict == "asymmetric_source" and (.first_seen_s | type) == "number"
  and (.packet_after_ms | length) >= 2 and (.retransmit_after_ms | length) >= 1)' \
  "the failing flow has its first-seen time, packet and retransmit times"
assert_report_json "(.services | length) == 2 and all(.services[]; .over_time.bucket_s == 1
  and (.over_time.answered | add) == .answered and (.over_time.failed | add) == .failed)
  and any(.services[]; .backend == \"10.141.13.1:7443\" and .answered == $HEALTHY)" \
  "every service row carries its counts over time, which sum to the row's"
[[ -s $HTML ]] || fail "HTML report $HTML missing or empty"
grep -qiE 'https?://|src=|href=|url\(|@import|<script|<link|<img|<iframe' "$HTML" &&
  fail "the HTML report names something outside itself: $(grep -oiE '.{0,40}(https?://|src=|href=|url\(|@import|<script|<link|<img|<iframe).{0,40}' "$HTML" | head -n 3)"

# chromium ARGS...: headless, bounded, in an empty network namespace, with a throwaway profile.
chromium_run() {
  timeout -k 5 60 unshare --net chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --no-default-browser-check --disable-background-networking --disable-sync --disable-extensions \
    --disable-component-update --disable-default-apps --user-data-dir="$WORK/chromium-profile" \
    "$@" 2>>"$WORK/chromium.log" {E2E_OUT}>&-
}
dom=$(chromium_run --dump-dom "file://$HTML") || fail "chromium could not load the report (see $WORK/chromium.log)"
echo "$dom" >"$WORK/dom.html"
fix=$(jq -r '.diagnoses[0].fix' "$REPORT")
src_port=$(jq -r '.diagnoses[0].flow.sport' "$REPORT")
for want in "asymmetric_source" "default via 10.141.13.1 dev enslf1" "$fix" "10.141.13.182:$src_port → 172.24.0.1:443" \
  "10.0.0.8:6443" "backend 10.0.0.8:6443" "first failure at" "<svg" "backend 10.141.13.1:7443" \
  "$HEALTHY flows: $HEALTHY answered, 0 failed" '<g class="traffic">' "max "; do
  grep -qF -- "$want" <<<"$dom" || fail "the DOM Chromium built from the report lacks '$want' (DOM kept in $WORK/dom.html)"
done

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
cp "$HTML" "$ARTIFACTS/report.html"
chromium_run --screenshot="$ARTIFACTS/report.png" --window-size=1280,2000 "file://$HTML" ||
  fail "chromium could not take a screenshot of the report (see $WORK/chromium.log)"
[[ -f $ARTIFACTS/report.png ]] || fail "no screenshot at $ARTIFACTS/report.png"
[[ $(head -c 8 "$ARTIFACTS/report.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
  fail "the screenshot is not a PNG"
size=$(stat -c %s "$ARTIFACTS/report.png")
((size > 40000)) || fail "the screenshot is only $size bytes: a blank page?"

pass
