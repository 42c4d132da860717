#!/usr/bin/env bash
# The main job: the mini program's auto-debit flow, end to end, from SQL, against the
# sandbox acquirer on a private PostgreSQL cluster.  Installs what it needs (as root),
# builds, runs, prints each step and its result, and cleans up.
#
#   scripts/demo.sh
#   scripts/demo.sh --browser               the same flow clicked by a person: the sandbox's
#                                           super-app simulator plays examples/mini-program/;
#                                           prints its URL, runs until Ctrl-C
#   AUTODEBIT_INSTALLED=1 scripts/demo.sh   use the installed extension and autodebit-sandbox
#                                           (the Debian packages, say): build and install nothing
set -euo pipefail
cd "$(dirname "$0")/.."
browser=
case "${1:-}" in
	--browser) browser=1 ;;
	"") ;;
	*) echo "usage: scripts/demo.sh [--browser]" >&2; exit 2 ;;
esac

if [ -z "${AUTODEBIT_INSTALLED:-}" ]; then
	scripts/install-deps.sh
	make -s all >/dev/null
	if [ "$(id -u)" -eq 0 ]; then make -s install >/dev/null; fi
else
	sandbox_bin=$(command -v autodebit-sandbox)
fi
superapp_dir=$PWD/sandbox/superapp
[ -n "${AUTODEBIT_INSTALLED:-}" ] && [ -d /usr/share/autodebit-tools/superapp ] && superapp_dir=/usr/share/autodebit-tools/superapp

work=$(mktemp -d /tmp/autodebit-demo.XXXXXX)
chmod 755 "$work"
. scripts/lib.sh
trap 'stop_all; rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
sql() { echo "sql> $1"; cluster_psql -c "$1"; }
value() { cluster_psql -At -c "$1"; }

step "Keys: the merchant's RSA pair, the sandbox acquirer's pair, a token data key"
make_keys
ls -l "$work/keys" | tail -n +2

step "Sandbox acquirer (a local Antom Auto Debit gateway)"
start_sandbox --superapp "$superapp_dir" --mini-program "$PWD/examples/mini-program"
cat "$work/sandbox.out"

step "Private PostgreSQL cluster"
start_cluster
echo "running in $work/data"

step "CREATE EXTENSION and register the merchant's Antom client"
sql "CREATE EXTENSION autodebit"
sql "SELECT client_id, gateway_url, private_key_file, app_id FROM autodebit_merchant_set('SANDBOX_DEMO_MERCHANT', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'DEMO_MINI_APP')"

if [ -n "$browser" ]; then
	step "The mini program's merchant backend: examples/mini-program/merchant.sql behind server.py"
	cluster_psql -q -f "$PWD/examples/mini-program/merchant.sql"
	start_merchant_backend
	echo "listening on $backend"
	step "Open the super-app simulator (loopback only) and press \"Enable auto debit\":"
	echo
	echo "    $gateway/sandbox/superapp/?backend=$backend&customer=customer-42"
	echo
	echo "    (?site=DANA plays another wallet; &fail=7001 makes my.signContract lose its answer)"
	echo "Ctrl-C ends the demo and shows what the database recorded."
	on_interrupt() {
		trap - INT
		step "What the database recorded"
		sql "SELECT customer_ref, customer_belongs_to, status, user_login_id FROM autodebit.agreements ORDER BY id"
		sql "SELECT customer_ref, order_ref, amount_minor, currency, status FROM autodebit.payments ORDER BY id"
		sql "SELECT customer_ref, site_name, agreement_id, first_order, sign_error FROM mp.enrolment ORDER BY id"
		exit 0
	}
	trap on_interrupt INT
	while :; do sleep 1; done
fi

step "my.getSiteInfo() in the mini program says which wallet it runs in"
site=GCASH
echo "siteName = $site"

step "User asks to enable auto debit: autodebit_consult()"
sql "SELECT auth_state, auth_url FROM autodebit_consult('customer-42', '$site', 'https://merchant.example/autodebit/done')"
auth_url=$(value "SELECT auth_url FROM autodebit.consult_session ORDER BY created_at DESC LIMIT 1")

step "my.signContract(auth_url): the wallet shows its consent page"
curl -s "$auth_url" | sed -e 's/<[^>]*>/ /g' -e 's/  */ /g' | head -c 400; echo

step "The user presses Agree; the wallet returns authCode and authState"
redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$auth_url&decision=agree&user=maria@gcash")
echo "redirect: $redirect"
auth_state=$(echo "$redirect" | sed -n 's/.*authState=\([^&]*\).*/\1/p')
auth_code=$(echo "$redirect" | sed -n 's/.*authCode=\([^&]*\).*/\1/p')

step "The backend exchanges the code for tokens: autodebit_apply_token()"
sql "SELECT id, customer_ref, customer_belongs_to, status, user_login_id, access_token_expires_at FROM autodebit_apply_token('$auth_state', '$auth_code')"
sql "SELECT id, length(access_token_enc) AS sealed_bytes, left(encode(access_token_enc, 'hex'), 24) || '...' AS sealed FROM autodebit.agreement"

step "Charge the monthly plan: autodebit_pay()"
sql "SELECT order_ref, amount_minor, currency, status, result_code, payment_id, payment_request_id FROM autodebit_pay('customer-42', 'invoice-2026-11', 29900, 'PHP', 'Premium plan, November 2026')"

step "Pay the same order again (a retry, a double click): the existing payment, no second debit"
sql "SELECT order_ref, status, payment_id FROM autodebit_pay('customer-42', 'invoice-2026-11', 29900, 'PHP', 'Premium plan, November 2026')"
echo "sandbox ledger for invoice-2026-11:"
curl -s "$gateway/sandbox/admin/ledger" | jq -c '.payments[] | select(.referenceOrderId == "invoice-2026-11") | {paymentRequestId, status, amount, currency}'

step "Next month's charge: queued with the invoice, sent after commit by autodebit_run() (pg_cron's job)"
sql "SELECT order_ref, status FROM autodebit_pay('customer-42', 'invoice-2026-12', 29900, 'PHP', 'Premium plan, December 2026', deferred => true)"
sql "CALL autodebit_run()"
sql "SELECT order_ref, status, payment_id IS NOT NULL AS paid FROM autodebit.payments WHERE order_ref = 'invoice-2026-12'"

step "The user stops auto debit: autodebit_revoke()"
sql "SELECT customer_ref, status, end_reason FROM autodebit_revoke('customer-42')"

step "Every call to the acquirer, as logged (no token, no body)"
sql "SELECT api, outcome, result_code, http_status, round(latency_ms::numeric, 1) AS ms FROM autodebit.exchange_log ORDER BY id"

step "Done"
