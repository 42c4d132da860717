#!/usr/bin/env bash
# The mini-program side in a browser (issue 13): the sandbox serves the super-app simulator
# (sandbox/superapp/) playing examples/mini-program/; its merchant backend (server.py over
# merchant.sql) runs on a private cluster; headless Debian chromium, driven by playwright-core
# (flow.mjs), clicks through agree, decline, an unknown my.signContract outcome and a site the
# merchant does not offer; then the database and the sandbox's ledger are checked.  Screenshots
# of each step are kept in $AUTODEBIT_SCREENSHOTS (default test/browser/out/; the README's come
# from here).  Each check prints "ok N - ..."; the last line is "N passed, N failed".
#
#   test/browser/run.sh
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
work=$(mktemp -d /tmp/autodebit-browser.XXXXXX)
chmod 755 "$work"
. scripts/lib.sh
shots=${AUTODEBIT_SCREENSHOTS:-$repo/test/browser/out}
trap 'stop_all; if [ $failed -ne 0 ]; then echo "browser: kept $work" >&2; else rm -rf "$work"; fi' EXIT

[ -d test/browser/node_modules/playwright-core ] || (cd test/browser && npm ci --no-audit --no-fund --silent) ||
	{ echo "browser: npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$shots" && rm -f "$shots"/*.png

make_keys
start_sandbox --superapp "$repo/sandbox/superapp" --mini-program "$repo/examples/mini-program"
cluster_port=$(free_port)
start_cluster
q() { cluster_psql -At -c "$1"; }
q "CREATE EXTENSION autodebit" >/dev/null
q "SELECT 1 FROM autodebit_merchant_set('SANDBOX_MINI', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'DEMO_MINI_APP')" >/dev/null
cluster_psql -q -f "$repo/examples/mini-program/merchant.sql" >/dev/null || { echo "browser: merchant.sql did not load"; echo "0 passed, 1 failed"; exit 1; }
start_merchant_backend
url="$gateway/sandbox/superapp/?backend=$backend"

check "the sandbox serves the simulator and the mini program's files" \
	eval "curl -sf '$gateway/sandbox/superapp/' | grep -q 'Super-app simulator' &&
		  curl -sf '$gateway/sandbox/superapp/app/pages/autodebit/autodebit.axml' | grep -q onEnable"
check "...and nothing outside them" \
	eval "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --path-as-is '$gateway/sandbox/superapp/app/../merchant.sql')\" = 404 ] &&
		  [ \"\$(curl -s -o /dev/null -w '%{http_code}' '$gateway/sandbox/superapp/app/.hidden')\" = 404 ]"

node test/browser/flow.mjs "$url" "$shots" > "$work/flow.out" 2> "$work/flow.err"
scene() { grep "\"scene\":\"$1\"" "$work/flow.out"; }
field() { scene "$1" | jq -r ".$2"; }
for s in agree decline unknown unsupported; do
	check "the $s scene ran without an error in the page" \
		eval "[ -n \"\$(scene $s)\" ] && [ \"\$(field $s error)\" = null ] && [ \"\$(field $s 'problems | length')\" = 0 ]"
done

# agree: the page showed the site, the consent page and the result; the database has both
check "agree: the page shows the wallet from my.getSiteInfo and the price" eq "$(field agree price)" "₱299.00 a month"
check "agree: my.signContract opened the sandbox's consent page for this merchant" \
	eval "field agree consent | grep -q 'The merchant SANDBOX_MINI asks to debit your GCASH wallet automatically'"
check "agree: the page says auto debit is on, with the first month's status" \
	eq "$(field agree result)" "Auto debit is on First month: SUCCESS (mp-first-1)"
check "agree: the agreement is ACTIVE for customer-7, with the wallet user the person typed" \
	eq "$(q "SELECT status || ' ' || customer_belongs_to || ' ' || user_login_id FROM autodebit.agreements WHERE customer_ref = 'customer-7'")" "ACTIVE GCASH maria@gcash"
check "agree: the first debit is SUCCESS, 299.00 PHP, on that agreement" \
	eq "$(q "SELECT p.status || ' ' || p.amount_minor || ' ' || p.currency FROM autodebit.payments p JOIN autodebit.agreements a ON a.id = p.agreement_id WHERE a.customer_ref = 'customer-7'")" "SUCCESS 29900 PHP"
check "agree: the sandbox's ledger holds that one payment" \
	eq "$(curl -s "$gateway/sandbox/admin/ledger" | jq -r '[.payments[] | select(.referenceOrderId == "mp-first-1") | .status] | join(",")')" "SUCCESS"
check "agree: the log shows getSiteInfo, start, signContract success, finish" \
	eval "field agree 'log | join(\"\\n\")' | grep -c -e 'my.getSiteInfo() → success' -e 'POST /autodebit/start) → 200' -e 'my.signContract → success' -e 'POST /autodebit/finish) → 200' | grep -qx 4"

# the backend's endpoints on their own: a retried finish, a swapped authState
state7=$(q "SELECT auth_state FROM mp.enrolment WHERE customer_ref = 'customer-7'")
post() { curl -s -o "$work/post.out" -w '%{http_code}' -H 'Content-Type: application/json' -H "X-Customer-Ref: $1" -d "$3" "$backend$2"; }
check "finish again (the phone lost the answer): 200, the same order, still one debit at the acquirer" \
	eval "[ \"\$(post customer-7 /autodebit/finish '{\"authState\":\"$state7\",\"authCode\":\"lost\"}')\" = 200 ] &&
		  [ \"\$(jq -r '.payment.orderRef + \" \" + .payment.status' $work/post.out)\" = 'mp-first-1 SUCCESS' ] &&
		  [ \"\$(curl -s $gateway/sandbox/admin/ledger | jq '[.payments[] | select(.referenceOrderId == \"mp-first-1\")] | length')\" = 1 ]"
check "another customer's authState is refused: 403, SQLSTATE 42501" \
	eval "[ \"\$(post customer-8 /autodebit/finish '{\"authState\":\"$state7\",\"authCode\":\"x\"}')\" = 403 ] &&
		  [ \"\$(jq -r .error.sqlstate $work/post.out)\" = 42501 ]"
check "no customer (no session): 401" eq "$(post '' /autodebit/start '{"siteName":"GCASH"}')" "401"

# decline: 6001, the page says so, nothing debited, the enrolment remembers why
check "decline: my.signContract failed with 6001 and the page says the user did not enable it" \
	eval "[ \"\$(field decline message)\" = 'You did not enable auto debit.' ] && field decline 'log | join(\"\\n\")' | grep -q '\"error\":6001'"
check "decline: the button can be pressed again" eq "$(field decline button_enabled)" "true"
check "decline: no agreement and no payment for customer-8; the enrolment records 6001" \
	eq "$(q "SELECT (SELECT count(*) FROM autodebit.agreements WHERE customer_ref = 'customer-8') || ' ' || (SELECT count(*) FROM autodebit.payments WHERE customer_ref = 'customer-8') || ' ' || (SELECT string_agg(sign_error, ',') FROM mp.enrolment WHERE customer_ref = 'customer-8')")" "0 0 6001"

# 7001: the wallet agreed but the answer was lost; with no AUTHCODE_CREATED here, not on yet
check "unknown: after 7001 the page asks the backend and tells the user it is checking" \
	eq "$(field unknown message)" "We are checking with your wallet. Please look again in a minute."
check "unknown: the enrolment records 7001; no debit was guessed" \
	eq "$(q "SELECT string_agg(sign_error, ',') || ' ' || (SELECT count(*) FROM autodebit.payments WHERE customer_ref = 'customer-9') FROM mp.enrolment WHERE customer_ref = 'customer-9'")" "7001 0"

# a site the merchant does not offer: refused before any call to the acquirer
check "unsupported: ALIPAY_MO is refused with the backend's message" \
	eq "$(field unsupported message)" "auto debit is not offered in ALIPAY_MO"
check "unsupported: no consult was sent for customer-10" \
	eq "$(q "SELECT count(*) FROM mp.enrolment WHERE customer_ref = 'customer-10'")" "0"

check "a screenshot of each step is kept" \
	eval "ls '$shots' | grep -c png | awk '{exit !(\$1 >= 6)}'"
[ "$failed" -eq 0 ] || { echo "# flow output:"; sed 's/^/#   /' "$work/flow.out" "$work/flow.err" | head -40; }
checks_summary
