#!/usr/bin/env bash
# A backup that can pay (issue 11): pg_dump of a database using autodebit -- payments, a
# refund, a schedule, a run, a role's merchant grant, an admin's wallet and currency rows --
# restored with pg_restore and with a plain psql script (ON_ERROR_STOP), into a new cluster
# that has the same key files and into a new database of the same cluster.  After each
# restore every row is there and pay, autodebit_run() and reconcile work.
# Each check prints "ok N - ..." or "not ok N - ..."; the last line is "N passed, N failed".
#
#   test/restore/run.sh [--keep]
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
keep=${1:-}

work=$(mktemp -d /tmp/autodebit-restore.XXXXXX)
chmod 755 "$work"
. scripts/lib.sh
sandbox_bin=$repo/sandbox/autodebit-sandbox
client=SANDBOX_RESTORE
cleanup() {
	for d in a b; do
		[ -f "$work/$d/postmaster.pid" ] && as_server "$ad_bindir/pg_ctl" -D "$work/$d" -m immediate stop >/dev/null 2>&1
	done
	for pid in ${sandbox_pids:-}; do kill "$pid" 2>/dev/null; done
	if [ -n "$keep" ] || [ $failed -ne 0 ]; then echo "restore: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

make_keys
start_sandbox --default-balance 1000000000000 || exit 1
chown -R "$server_user" "$work"

port_of() { case $1 in a) echo 5611 ;; b) echo 5612 ;; esac; }
on() {	# on NODE DB psql-args...
	local node=$1 db=$2; shift 2
	as_server env PGOPTIONS="-c client_min_messages=warning" \
		"$ad_bindir/psql" -X -q -At -h "$work" -p "$(port_of "$node")" -U postgres -d "$db" "$@"
}
node() {	# node NAME: initdb and start a cluster reading the same key directory
	as_server "$ad_bindir/initdb" -D "$work/$1" $ad_initdb_flags >/dev/null
	cat >> "$work/$1/postgresql.conf" <<EOF
listen_addresses = ''
port = $(port_of "$1")
unix_socket_directories = '$work'
autodebit.key_directory = '$work/keys'
EOF
	as_server "$ad_bindir/pg_ctl" -D "$work/$1" -l "$work/$1.log" -w start >/dev/null
}
authorize() {	# authorize NODE DB CUSTOMER
	local url redirect
	url=$(on "$1" "$2" -c "SELECT auth_url FROM autodebit_consult('$3', 'GCASH', 'https://restore.example/done')")
	redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url&decision=agree&user=$3-wallet")
	on "$1" "$2" -c "SELECT status FROM autodebit_apply_token('$(echo "$redirect" | sed -n 's/.*authState=\([^&]*\).*/\1/p')', '$(echo "$redirect" | sed -n 's/.*authCode=\([^&]*\).*/\1/p')')" >/dev/null
}
# every row a merchant or an admin put there, as one line to compare
state() {	# state NODE DB
	on "$1" "$2" -c "SELECT concat_ws(' ',
		(SELECT count(*) FROM autodebit.merchant), (SELECT count(*) FROM autodebit.agreement),
		(SELECT count(*) FROM autodebit.payment), (SELECT string_agg(status, ',' ORDER BY id) FROM autodebit.payment),
		(SELECT count(*) FROM autodebit.refund), (SELECT count(*) FROM autodebit.schedule),
		(SELECT count(*) FROM autodebit.schedule_period), (SELECT count(*) FROM autodebit.run),
		(SELECT count(*) FROM autodebit.exchange_log), (SELECT count(*) FROM autodebit.consult_session),
		(SELECT string_agg(merchant || '=' || role, ',') FROM autodebit.merchant_grants),
		(SELECT customer_belongs_to FROM autodebit.wallet WHERE site_name = 'ALIPAY_MO'),
		(SELECT minor_unit FROM autodebit.currency WHERE code = 'XTS'),
		(SELECT count(*) FROM autodebit.wallet), (SELECT count(*) FROM autodebit.currency))"
}
pays() {	# pays NODE DB ORDER: a new sync pay on the restored database
	on "$1" "$2" -c "SELECT status FROM autodebit_pay('cust-1', '$3', 500, 'USD', 'after restore')" 2>&1
}

# The database to back up: merchant, two agreements, payments (one refunded), a schedule and
# its run, a merchant grant, and an admin's wallet and currency rows.
node a
on a postgres -c "CREATE ROLE shop_app LOGIN; CREATE EXTENSION autodebit" >/dev/null
on a postgres -c "SELECT 1 FROM autodebit_merchant_set('$client', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'RESTORE')" >/dev/null
authorize a postgres cust-1
authorize a postgres cust-2
on a postgres -c "SELECT p.status FROM generate_series(1, 3) i, LATERAL autodebit_pay('cust-1', 'order-' || i, 1000 + i, 'USD', 'before the dump') p" >/dev/null
on a postgres -c "SELECT status FROM autodebit_refund((SELECT payment_request_id FROM autodebit.payments WHERE order_ref = 'order-1'), 100)" >/dev/null
on a postgres -c "SELECT id FROM autodebit_schedule('cust-2', 700, 'USD', 'plan', starts_at => now() - interval '1 minute')" >/dev/null
on a postgres -c "CALL autodebit_run()" >/dev/null
on a postgres -c "INSERT INTO autodebit.wallet VALUES ('ALIPAY_MO', 'ALIPAY_MO'); INSERT INTO autodebit.currency (code, minor_unit) VALUES ('XTS', 3)" >/dev/null
on a postgres -c "SELECT autodebit_merchant_grant('$client', 'shop_app')" >/dev/null
before=$(state a postgres)
echo "# backed up: $before"
check "the database to back up has its rows" eq "$(echo "$before" | cut -d' ' -f1-3,5-8)" "1 2 4 1 1 1 1"
as_server "$ad_bindir/pg_dump" -h "$work" -p 5611 -U postgres -Fc -f "$work/backup.custom" postgres
as_server "$ad_bindir/pg_dump" -h "$work" -p 5611 -U postgres -f "$work/backup.sql" postgres

# 1. pg_restore into a new cluster with the same key files (and the role, as pg_dumpall -g gives)
node b
on b postgres -c "CREATE ROLE shop_app LOGIN" -c "CREATE DATABASE shop" >/dev/null
as_server "$ad_bindir/pg_restore" -h "$work" -p 5612 -U postgres -d shop "$work/backup.custom" 2> "$work/restore.err"
check "pg_restore into a new cluster ends with rc 0" eq "$?" 0
check "...and says nothing" eq "$(cat "$work/restore.err")" ""
check "...and every row is there (merchants, agreements, payments, refunds, schedules, runs, log, grants, the admin's wallet and currency rows)" \
	eq "$(state b shop)" "$before"
check "...and a new pay goes through" eq "$(pays b shop order-b1)" SUCCESS
check "...and so does CALL autodebit_run()" eq "$(on b shop -c "CALL autodebit_run()" 2>&1; echo rc=$?)" "rc=0"
check "...and autodebit_reconcile()" eq "$(on b shop -c "SELECT items_failed FROM autodebit_reconcile()" 2>&1)" 0
check "...and a refund of a payment made before the dump" \
	eq "$(on b shop -c "SELECT status FROM autodebit_refund((SELECT payment_request_id FROM autodebit.payments WHERE order_ref = 'order-2'), 10)" 2>&1)" SUCCESS

# 2. the plain script, as psql -v ON_ERROR_STOP=1 runs it
on b postgres -c "CREATE DATABASE plain" >/dev/null
as_server "$ad_bindir/psql" -X -q -h "$work" -p 5612 -U postgres -d plain -v ON_ERROR_STOP=1 \
	-f "$work/backup.sql" > /dev/null 2> "$work/plain.err"
check "a plain dump restores with ON_ERROR_STOP" eq "$?" 0
check "...with every row" eq "$(state b plain)" "$before"
check "...and pays" eq "$(pays b plain order-p1)" SUCCESS

# 3. pg_restore into a new database of the same cluster
on a postgres -c "CREATE DATABASE copy" >/dev/null
as_server "$ad_bindir/pg_restore" -h "$work" -p 5611 -U postgres -d copy "$work/backup.custom" 2> "$work/copy.err"
check "pg_restore into a new database of the same cluster ends with rc 0" eq "$?" 0
check "...with every row" eq "$(state a copy)" "$before"
check "...and pays" eq "$(pays a copy order-c1)" SUCCESS
check "...while the original still pays too" eq "$(pays a postgres order-a4)" SUCCESS
check "...and the copy's reconcile adopts nothing of the original's (each reads its own database's journal)" \
	eq "$(on a copy -c "SELECT orphans_adopted FROM autodebit_reconcile()" 2>&1) $(on a copy -c "SELECT count(*) FROM autodebit.payment")" "0 5"
# shipped reference rows stay as shipped (they are not dumped)
check "a shipped wallet row cannot be changed (it would not survive a restore)" \
	eq "$(on a postgres -c "UPDATE autodebit.wallet SET customer_belongs_to = 'X' WHERE site_name = 'GCASH'" 2>&1 | head -1 | sed 's/^ERROR: *//')" \
	'row "(GCASH,GCASH,t)" of autodebit.wallet is shipped with the extension'
check "...while an admin's own row can" eq "$(on a postgres -c "UPDATE autodebit.wallet SET customer_belongs_to = 'ALIPAY_HK' WHERE site_name = 'ALIPAY_MO' RETURNING seeded" 2>&1)" f

checks_summary
