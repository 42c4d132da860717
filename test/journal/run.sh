#!/usr/bin/env bash
# The send journal where PostgreSQL users run it (issue 9): a synchronous standby that is
# promoted after the primary dies, a base backup restored to a point in time, the extension
# dropped and created again, and 100,000 journal records with one transaction left open.
# Each check prints "ok N - ..." or "not ok N - ..."; the last line is "N passed, N failed".
#
#   test/journal/run.sh [--keep]
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
keep=${1:-}

work=$(mktemp -d /tmp/autodebit-journal.XXXXXX)
chmod 755 "$work"
. scripts/lib.sh
sandbox_bin=$repo/sandbox/autodebit-sandbox
client=SANDBOX_JOURNAL
cleanup() {
	for d in primary standby restored; do
		[ -f "$work/$d/postmaster.pid" ] && as_server "$ad_bindir/pg_ctl" -D "$work/$d" -m immediate stop >/dev/null 2>&1
	done
	for pid in ${sandbox_pids:-}; do kill "$pid" 2>/dev/null; done
	if [ -n "$keep" ] || [ $failed -ne 0 ]; then echo "journal: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

make_keys
mkdir -p "$work/archive"
start_sandbox --default-balance 1000000000000 --latency-ms 300 || exit 1
chown -R "$server_user" "$work"

port_of() { case $1 in primary) echo 5601 ;; standby) echo 5602 ;; restored) echo 5603 ;; esac; }
on() {	# on NODE psql-args...: psql on a node
	local node=$1; shift
	as_server env PGOPTIONS="-c client_min_messages=warning -c autodebit.order_close_grace=1s" \
		"$ad_bindir/psql" -X -q -At -h "$work" -p "$(port_of "$node")" -U postgres -d postgres "$@"
}
conf() {	# conf NODE: the settings every node shares
	cat >> "$work/$1/postgresql.conf" <<EOF
listen_addresses = ''
port = $(port_of "$1")
unix_socket_directories = '$work'
cluster_name = '$1'
autodebit.key_directory = '$work/keys'
wal_level = replica
max_wal_senders = 5
max_replication_slots = 10
hot_standby = on
archive_mode = on
archive_command = 'cp %p $work/archive/%f'
fsync = on
EOF
}
start() { as_server "$ad_bindir/pg_ctl" -D "$work/$1" -l "$work/$1.log" -w start >/dev/null; }
authorize() {	# authorize NODE CUSTOMER
	local url redirect
	url=$(on "$1" -c "SELECT auth_url FROM autodebit_consult('$2', 'GCASH', 'https://journal.example/done')")
	redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url&decision=agree&user=$2-wallet")
	on "$1" -c "SELECT status FROM autodebit_apply_token('$(echo "$redirect" | sed -n 's/.*authState=\([^&]*\).*/\1/p')', '$(echo "$redirect" | sed -n 's/.*authCode=\([^&]*\).*/\1/p')')" >/dev/null
}
settle() {	# settle NODE: CALL autodebit_run() until nothing is open (at most 60 runs)
	for _ in $(seq 60); do
		on "$1" -c "CALL autodebit_run()" >/dev/null 2>>"$work/settle.err"
		[ "$(on "$1" -c "SELECT (SELECT count(*) FROM autodebit.payment WHERE status IN ('QUEUED','SENDING','PROCESSING','UNKNOWN')
			OR (cancel_wanted IS NOT NULL AND status = 'SUCCESS' AND refunded_minor < amount_minor))
			+ (SELECT count(*) FROM autodebit.journal_retry)
			+ (SELECT count(*) FROM autodebit._journal_read((SELECT lsn FROM autodebit.journal_cursor), 100000, 1000000000)
			   WHERE api IS NOT NULL)" 2>/dev/null)" = 0 ] && return 0
		sleep 1
	done
	return 1
}
verdict() {	# verdict NODE: the torture run's comparison, database against the sandbox ledger
	curl -s "$gateway/sandbox/admin/ledger" > "$work/ledger.json"
	chmod 644 "$work/ledger.json"
	on "$1" -v ledger="$work/ledger.json" -v client="$client" -v orders=- -v faults=0 -v kills=0 \
		-v crashes=1 -f "$repo/test/torture/compare.sql" > "$work/verdict.out" 2>&1
	sed -n 1p "$work/verdict.out" | sed 's/^torture:/#  /'
	grep -qx 'torture: PASS' "$work/verdict.out"
}

# --- a primary and a synchronous standby -------------------------------------------------
as_server "$ad_bindir/initdb" -D "$work/primary" $ad_initdb_flags >/dev/null
conf primary
start primary
on primary -c "CREATE EXTENSION autodebit" >/dev/null
on primary -c "SELECT 1 FROM autodebit_merchant_set('$client', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'JOURNAL')" >/dev/null
for c in ann ben; do authorize primary "$c"; done
as_server "$ad_bindir/pg_basebackup" -D "$work/standby" -h "$work" -p 5601 -U postgres -R -X stream >/dev/null
sed -i "s/^port = 5601/port = 5602/; s/^cluster_name = 'primary'/cluster_name = 'standby'/; /^synchronous_standby_names/d" "$work/standby/postgresql.conf"
start standby
on primary -c "ALTER SYSTEM SET synchronous_standby_names = 'standby'" >/dev/null
on primary -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 100); do
	[ "$(on primary -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")" = sync ] && break
	sleep 0.1
done
check "the standby is synchronous" eq "$(on primary -c "SELECT sync_state FROM pg_stat_replication")" sync

# --- a pay whose journal record the standby does not confirm is not sent ---------------------
on primary -c "ALTER SYSTEM SET synchronous_standby_names = 'nobody'" >/dev/null
on primary -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
err=$(on primary -c "SET statement_timeout = '1s'" -c "SELECT status FROM autodebit_pay('ann', 'sw-1', 900, 'USD', 'standby gone')" 2>&1 >/dev/null)
on primary -c "ALTER SYSTEM SET synchronous_standby_names = 'standby'" >/dev/null
on primary -c "SELECT pg_reload_conf()" >/dev/null
check "a cancelled wait for the standby raises" grep -q "did not reach the synchronous standby" <<< "$err"
check "...and the pay was not sent" eq "$(curl -s "$gateway/sandbox/admin/ledger" | jq '[.payments[] | select(.referenceOrderId == "sw-1")] | length')" 0

# --- load on the primary, then it dies ---------------------------------------------------
for i in 1 2 3 4 5; do
	on primary -c "SELECT status FROM autodebit_pay('ann', 'fo-commit-$i', 1000, 'USD', 'committed')" >/dev/null
	on primary -c "BEGIN; SELECT status FROM autodebit_pay('ben', 'fo-rollback-$i', 1100, 'USD', 'rolled back'); ROLLBACK;" >/dev/null
done
on primary -c "SELECT count(*) FROM (SELECT autodebit_pay('ann', 'fo-queued-' || i, 1200, 'USD', 'deferred', deferred => true) FROM generate_series(1, 20) i) x" >/dev/null
# a transaction that paid and never ends, and a run with a batch in flight (300 ms answers)
on primary -c "BEGIN; SELECT status FROM autodebit_pay('ben', 'fo-open', 1300, 'USD', 'never committed'); SELECT pg_sleep(600);" >/dev/null 2>&1 &
clients=$!
on primary -c "CALL autodebit_run()" >/dev/null 2>&1 &
clients="$clients $!"
for _ in $(seq 100); do
	[ "$(on primary -c "SELECT count(*) FROM autodebit.payment WHERE status = 'SENDING'")" -gt 0 ] && break
	sleep 0.05
done
sleep 0.1
pm=$(head -1 "$work/primary/postmaster.pid")
kill -9 "$pm" $(pgrep -P "$pm") 2>/dev/null
for pid in $clients; do wait "$pid" 2>/dev/null; done
check "debits were in flight when the primary died" \
	[ "$(curl -s "$gateway/sandbox/admin/ledger" | jq '[.payments[] | select(.clientId == "'$client'")] | length')" -gt 10 ]

# --- promote the standby, settle there: nothing lost, nothing doubled -------------------
as_server "$ad_bindir/pg_ctl" -D "$work/standby" -w promote >/dev/null
check "the standby is promoted" eq "$(on standby -c "SELECT pg_is_in_recovery()")" f
check "the new primary settles" settle standby
check "the new primary holds what the acquirer holds (0 lost, 0 double)" verdict standby
check "the rolled-back and the never-committed pays were adopted there" \
	eq "$(on standby -c "SELECT count(*) FROM autodebit.payment WHERE is_orphan AND (order_ref LIKE 'fo-rollback-%' OR order_ref = 'fo-open')")" 6
# the new primary journals too: rolled-back pays made there are adopted
for i in 1 2 3; do
	on standby -c "BEGIN; SELECT status FROM autodebit_pay('ann', 'np-rollback-$i', 1400, 'USD', 'rolled back on the new primary'); ROLLBACK;" >/dev/null
done
sleep 1.1
check "rolled-back pays on the new primary settle" settle standby
check "...and are adopted and given back" \
	eq "$(on standby -c "SELECT count(*) FROM autodebit.payment WHERE order_ref LIKE 'np-rollback-%' AND is_orphan AND status = 'CANCELLED'")" 3
check "the books still agree" verdict standby
check "a replication slot keeps the journal's WAL on the new primary" \
	eq "$(on standby -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'autodebit_journal_%'")" 1

# --- a base backup restored to a point in time ---------------------------------------------
as_server "$ad_bindir/pg_basebackup" -D "$work/restored" -h "$work" -p 5602 -U postgres -X stream >/dev/null
for i in 1 2 3; do
	on standby -c "BEGIN; SELECT status FROM autodebit_pay('ben', 'pitr-before-$i', 1500, 'USD', 'before the restore point'); ROLLBACK;" >/dev/null
done
on standby -c "SELECT pg_create_restore_point('autodebit_test')" >/dev/null
for i in 1 2 3; do
	on standby -c "BEGIN; SELECT status FROM autodebit_pay('ben', 'pitr-after-$i', 1600, 'USD', 'after the restore point'); ROLLBACK;" >/dev/null
done
on standby -c "SELECT pg_switch_wal()" >/dev/null
sleep 1
sed -i "s/^port = 5602/port = 5603/; s/^cluster_name = 'standby'/cluster_name = 'restored'/; s/^archive_mode = on/archive_mode = off/" "$work/restored/postgresql.conf"
rm -f "$work/restored/standby.signal"
cat >> "$work/restored/postgresql.conf" <<EOF
restore_command = 'cp $work/archive/%f %p'
recovery_target_name = 'autodebit_test'
recovery_target_action = 'promote'
EOF
sed -i '/^primary_conninfo/d' "$work/restored/postgresql.auto.conf"
as_server touch "$work/restored/recovery.signal"
start restored
for _ in $(seq 100); do [ "$(on restored -c "SELECT pg_is_in_recovery()")" = f ] && break; sleep 0.1; done
check "the restored cluster is up at the restore point" eq "$(on restored -c "SELECT pg_is_in_recovery()")" f
sleep 1.1
settle restored
check "every orphan of the restored history is adopted" \
	eq "$(on restored -c "SELECT count(*) FROM autodebit.payment WHERE order_ref LIKE 'pitr-before-%' AND is_orphan")" 3
check "none from after the restore point is invented" \
	eq "$(on restored -c "SELECT count(*) FROM autodebit.payment WHERE order_ref LIKE 'pitr-after-%'")" 0
as_server "$ad_bindir/pg_ctl" -D "$work/restored" -m fast stop >/dev/null
settle standby

# --- DROP EXTENSION, CREATE EXTENSION: nothing of the old journal is taken for new ------------
on standby -c "SELECT status FROM autodebit_pay('ann', 'ri-paid', 1700, 'USD', 'paid before the reinstall')" >/dev/null
on standby -c "BEGIN; SELECT status FROM autodebit_pay('ann', 'ri-rollback', 1800, 'USD', 'rolled back before the reinstall'); ROLLBACK;" >/dev/null
on standby -c "DROP EXTENSION autodebit CASCADE" >/dev/null 2>&1
on standby -c "CREATE EXTENSION autodebit" >/dev/null
on standby -c "SELECT 1 FROM autodebit_merchant_set('$client', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'JOURNAL')" >/dev/null
authorize standby ann
sleep 1.1
on standby -c "CALL autodebit_run()" >/dev/null 2>&1
on standby -c "CALL autodebit_run()" >/dev/null 2>&1
ledger_status() { curl -s "$gateway/sandbox/admin/ledger" | jq -r "[.payments[] | select(.referenceOrderId == \"$1\")][0].status"; }
check "a payment committed before the reinstall is not touched" eq "$(ledger_status ri-paid)" SUCCESS
check "the re-created extension adopts nothing of the old journal" \
	eq "$(on standby -c "SELECT count(*) FROM autodebit.payment")" 0

# --- 100,000 records, one transaction left open ---------------------------------------------
authorize standby ben
on standby -c "SELECT 1 FROM autodebit_pay('ben', 'big-warmup', 100, 'USD', 'warm-up')" >/dev/null
on standby -c "CALL autodebit_run()" >/dev/null 2>&1
on standby -c "BEGIN; SELECT status FROM autodebit_pay('ben', 'big-open', 1900, 'USD', 'idle in transaction'); SELECT pg_sleep(600);" >/dev/null 2>&1 &
idle=$!
sleep 0.5
wal_before=$(on standby -c "SELECT sum(size) FROM pg_ls_waldir()")
# records as the extension writes them, for an API reconcile has nothing to do for, sealed
# with the data key (pgcrypto's hmac, the key file read as the server reads it)
on standby -c "CREATE EXTENSION IF NOT EXISTS pgcrypto" >/dev/null
on standby -c "SELECT count(pg_logical_emit_message(false, 'autodebit.journal', j || '|1:' ||
		encode(hmac(convert_to(E'autodebit.journal\\n' || j, 'UTF8'),
					decode(btrim(pg_read_file('$work/keys/data-1.key'), E' \\n'), 'hex'), 'sha256'), 'hex')))
	FROM (SELECT format('{\"v\":2,\"instance\":%s,\"at\":\"%s\",\"xid\":\"%s\",\"clientId\":\"$client\",\"api\":\"noop\",\"requestId\":\"noop-%s\",\"meta\":null,\"body\":{}}',
		   (SELECT oid FROM pg_extension WHERE extname = 'autodebit'), now() - interval '1 hour', pg_current_xact_id(), i) AS j
		  FROM generate_series(1, 100000) i) r" >/dev/null
# and one forged pay, which reconcile would adopt if it believed it
on standby -c "SELECT pg_logical_emit_message(false, 'autodebit.journal',
	format('{\"v\":2,\"instance\":%s,\"at\":\"%s\",\"xid\":\"%s\",\"clientId\":\"$client\",\"api\":\"pay\",\"requestId\":\"forged-1\",\"meta\":{\"agreementId\":1,\"attempt\":1,\"customerRef\":\"ben\"},\"body\":{\"order\":{\"referenceOrderId\":\"forged\",\"orderDescription\":\"x\"},\"paymentAmount\":{\"currency\":\"USD\",\"value\":\"100\"},\"paymentMethod\":{\"paymentMethodType\":\"GCASH\"}}}|1:%s',
		   (SELECT oid FROM pg_extension WHERE extname = 'autodebit'), now() - interval '1 hour', pg_current_xact_id(), repeat('0', 64)))" >/dev/null
last=$(on standby -c "SELECT pg_current_wal_insert_lsn()")
check "the 100,000 sealed records are believed by the reader" \
	eq "$(on standby -c "SELECT count(*) FROM autodebit._journal_read((SELECT lsn FROM autodebit.journal_cursor), 200000, 1000000000) WHERE api = 'noop'" 2>/dev/null)" 100000
t0=$(date +%s.%N)
for _ in $(seq 30); do
	on standby -c "CALL autodebit_run()" >/dev/null 2>&1
	[ "$(on standby -c "SELECT lsn >= '$last' FROM autodebit.journal_cursor")" = t ] && break
done
t1=$(date +%s.%N)
echo "# read 100,000 records in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"
check "the reader passes 100,000 records with a transaction left open" \
	eq "$(on standby -c "SELECT lsn >= '$last' FROM autodebit.journal_cursor")" t
check "records nobody sealed (written with pg_logical_emit_message) are not believed" \
	eq "$(on standby -c "SELECT count(*) FROM autodebit.payment WHERE payment_request_id = 'forged-1'") $(grep -c 'records that this server did not seal' "$work/standby.log" | sed 's/^0$/none/; s/^[1-9][0-9]*$/warned/')" "0 warned"
check "only the open transaction's record waits" \
	eq "$(on standby -c "SELECT count(*) || ' ' || string_agg(api || ':' || waiting, ',') FROM autodebit.journal_retry")" "1 pay:true"
on standby -c "CHECKPOINT" >/dev/null
on standby -c "SELECT pg_switch_wal()" >/dev/null
on standby -c "CHECKPOINT" >/dev/null
wal_after=$(on standby -c "SELECT sum(size) FROM pg_ls_waldir()")
echo "# pg_wal: $((wal_before / 1048576)) MB before, $((wal_after / 1048576)) MB after reading and a checkpoint"
check "the slot follows the reader, so WAL stays bounded" \
	eq "$(on standby -c "SELECT restart_lsn >= (SELECT lsn FROM autodebit.journal_cursor) - 16 * 1024 * 1024 FROM pg_replication_slots WHERE slot_name LIKE 'autodebit_journal_%'")" t
kill "$idle" 2>/dev/null
on standby -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()" >/dev/null
sleep 1.1
check "once that transaction ends, its pay is adopted" settle standby
check "...and given back" eq "$(on standby -c "SELECT status FROM autodebit.payment WHERE order_ref = 'big-open'")" CANCELLED

checks_summary
