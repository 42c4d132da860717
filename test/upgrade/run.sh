#!/usr/bin/env bash
# Upgrades (issue 11): version 0.1 (src/sql/updates/autodebit--0.1.sql, the script tagged v0.1)
# is created and filled -- a merchant, agreements, payments, a refund, a schedule and a run, an
# admin's wallet row -- then ALTER EXTENSION autodebit UPDATE brings it to the current version.
# The updated database must keep every row, pay, refund and run, and its schema must be the
# schema a new CREATE EXTENSION makes.  The whole pg_regress suite on an updated extension is
# AUTODEBIT_FROM=0.1 test/regress.sh (scripts/test.sh runs both).
# Each check prints "ok N - ..." or "not ok N - ..."; the last line is "N passed, N failed".
#
#   test/upgrade/run.sh [--keep]
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
keep=${1:-}

work=$(mktemp -d /tmp/autodebit-upgrade.XXXXXX)
chmod 755 "$work"
. scripts/lib.sh
sandbox_bin=$repo/sandbox/autodebit-sandbox
client=SANDBOX_UPGRADE
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" autodebit.control)
cleanup() {
	stop_all
	if [ -n "$keep" ] || [ $failed -ne 0 ]; then echo "upgrade: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

make_keys
start_sandbox --default-balance 1000000000000 || exit 1
cluster_port=5621 start_cluster
on() {	# on DB psql-args...
	local db=$1; shift
	cluster_port=5621 cluster_psql -q -At -d "$db" -c "SET client_min_messages = warning" "$@"
}
authorize() {	# authorize DB CUSTOMER
	local url redirect
	url=$(on "$1" -c "SELECT auth_url FROM autodebit_consult('$2', 'GCASH', 'https://upgrade.example/done')")
	redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url&decision=agree&user=$2-wallet")
	on "$1" -c "SELECT status FROM autodebit_apply_token('$(echo "$redirect" | sed -n 's/.*authState=\([^&]*\).*/\1/p')', '$(echo "$redirect" | sed -n 's/.*authCode=\([^&]*\).*/\1/p')')" >/dev/null
}
rows() {	# rows DB: what the merchant and the admin put there, as one line
	on "$1" -c "SELECT concat_ws(' ', (SELECT count(*) FROM autodebit.merchant), (SELECT count(*) FROM autodebit.agreement),
		(SELECT string_agg(order_ref || ':' || status, ',' ORDER BY id) FROM autodebit.payment),
		(SELECT count(*) FROM autodebit.refund), (SELECT count(*) FROM autodebit.schedule_period),
		(SELECT count(*) FROM autodebit.run), (SELECT count(*) FROM autodebit.exchange_log),
		(SELECT customer_belongs_to FROM autodebit.wallet WHERE site_name = 'ALIPAY_MO'))"
}
# the extension's objects as pg_dump prints them (--binary-upgrade dumps an extension's members
# one by one), without the OIDs that mode also sets and pg_dump's per-run restrict key
schema() {	# schema DB
	as_server "$ad_bindir/pg_dump" -h "$work" -p 5621 -U postgres --schema-only --binary-upgrade "$1" |
		grep -v '^--\|^$\|^SET \|^SELECT pg_catalog.set_config\|binary_upgrade\|restrict \|^WHERE oid = \|pg_catalog.setval'
}

# 0.1, filled
on postgres -c "CREATE DATABASE old" >/dev/null
on old -c "CREATE EXTENSION autodebit VERSION '0.1'" >/dev/null
check "version 0.1 installs from its tagged script" eq "$(on old -c "SELECT extversion FROM pg_extension WHERE extname = 'autodebit'")" 0.1
on old -c "SELECT 1 FROM autodebit_merchant_set('$client', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'UPGRADE')" >/dev/null
authorize old cust-1
authorize old cust-2
on old -c "SELECT p.status FROM generate_series(1, 3) i, LATERAL autodebit_pay('cust-1', 'order-' || i, 1000 + i, 'USD', 'made by 0.1') p" >/dev/null
on old -c "SELECT status FROM autodebit_refund((SELECT payment_request_id FROM autodebit.payments WHERE order_ref = 'order-1'), 100)" >/dev/null
on old -c "SELECT id FROM autodebit_schedule('cust-2', 700, 'USD', 'plan', starts_at => now() - interval '1 minute')" >/dev/null
on old -c "CALL autodebit_run()" >/dev/null
on old -c "INSERT INTO autodebit.wallet VALUES ('ALIPAY_MO', 'ALIPAY_MO')" >/dev/null
before=$(rows old)
echo "# filled by 0.1: $before"
check "0.1 paid, refunded and ran a schedule" eq "$(echo "$before" | cut -d' ' -f1-2,4-6)" "1 2 1 1 1"

# the library is already the new one: what 0.1's SQL cannot do with it is refused, clearly
check "a 0.1 notification function on the new library says to update" \
	eq "$(on old -c "SELECT autodebit_handle_notification('/n', '$client', '1', 'x', '{}')" 2>&1 | head -1)" \
	"ERROR:  the autodebit extension's SQL objects are older than its library"

# the update
check "ALTER EXTENSION autodebit UPDATE succeeds" eq "$(on old -c "ALTER EXTENSION autodebit UPDATE" 2>&1; echo rc=$?)" "rc=0"
check "...to version $version" eq "$(on old -c "SELECT extversion FROM pg_extension WHERE extname = 'autodebit'")" "$version"
check "...keeping every row" eq "$(rows old)" "$before"
check "...with the shipped reference rows marked shipped and the admin's row the admin's" \
	eq "$(on old -c "SELECT string_agg(site_name || '=' || seeded, ',' ORDER BY site_name) FROM autodebit.wallet WHERE site_name IN ('ALIPAY_MO', 'GCASH')")" \
	"ALIPAY_MO=false,GCASH=true"
check "the updated database pays an agreement made by 0.1" \
	eq "$(on old -c "SELECT status FROM autodebit_pay('cust-1', 'order-4', 900, 'USD', 'after the update')")" SUCCESS
check "...refunds a payment made by 0.1" \
	eq "$(on old -c "SELECT status FROM autodebit_refund((SELECT payment_request_id FROM autodebit.payments WHERE order_ref = 'order-2'), 10)")" SUCCESS
check "...runs and reconciles" \
	eq "$(on old -c "CALL autodebit_run()" 2>&1; on old -c "SELECT items_failed FROM autodebit_reconcile()")" 0
check "...and applies the new rules (a role without a grant acts for no merchant)" \
	eq "$(on old -c "CREATE ROLE app LOGIN IN ROLE autodebit_user" -c "SET ROLE app" -c "SELECT * FROM autodebit_pay('cust-1', 'order-5', 100, 'USD', 'x')" 2>&1 | head -1)" \
	'ERROR:  role "app" acts for no merchant'

# the same schema as a new installation
on postgres -c "CREATE DATABASE new" >/dev/null
on new -c "CREATE EXTENSION autodebit" >/dev/null
schema old > "$work/old.schema"
schema new > "$work/new.schema"
check "the updated schema is the schema CREATE EXTENSION makes (pg_dump --schema-only)" \
	diff -u "$work/new.schema" "$work/old.schema"
check "...with the same shipped reference rows" \
	eq "$(on old -c "SELECT md5(string_agg(w::text, ',' ORDER BY site_name)) FROM autodebit.wallet w WHERE seeded")$(on old -c "SELECT md5(string_agg(c::text, ',' ORDER BY code)) FROM autodebit.currency c WHERE seeded")" \
	"$(on new -c "SELECT md5(string_agg(w::text, ',' ORDER BY site_name)) FROM autodebit.wallet w WHERE seeded")$(on new -c "SELECT md5(string_agg(c::text, ',' ORDER BY code)) FROM autodebit.currency c WHERE seeded")"
check "...and the same objects in the extension" \
	eq "$(on old -c "SELECT count(*) FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'autodebit') AND deptype = 'e'")" \
	"$(on new -c "SELECT count(*) FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'autodebit') AND deptype = 'e'")"

checks_summary
