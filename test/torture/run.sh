#!/usr/bin/env bash
# The torture run (issue 8): a private cluster and a faulty sandbox acquirer, a
# mixed load through the public API only, kill -9 of working backends and one whole-cluster
# crash; then the settling a merchant does (CALL autodebit_run(), as pg_cron would), and the
# database compared with the acquirer's ledger order by order.  Prints one line
#
#   torture: N orders, F faults, K kills, C crashes: lost L, double D, unknown U, phantom P,
#            unwanted W, refund mismatches R, money equal|DIFFERENT
#
# and exits 0 only when every count is zero and the money held is equal.
#
#   test/torture/run.sh [--orders N] [--seed S] [--kills K] [--workers W] [--keep]
#
# The load: sync pays (committed, inside transactions, rolled back after paying, paid twice,
# paid again later by another session, paid by two sessions at once), deferred batches of ten (a tenth rolled back) drained by two
# concurrent autodebit_run() loops, declined and pending magic amounts, refunds (some rolled
# back).  About 30% of acquirer requests meet a fault of the sandbox's own kinds.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

orders=300
seed=$(( $(date +%s) % 100000 ))
kills=10
workers=4
keep=
while [ $# -gt 0 ]; do
	case $1 in
		--orders) orders=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		--kills) kills=$2; shift 2 ;;
		--workers) workers=$2; shift 2 ;;
		--keep) keep=1; shift ;;
		*) echo "usage: $0 [--orders N] [--seed S] [--kills K] [--workers W] [--keep]" >&2; exit 2 ;;
	esac
done
faults_spec="reset=0.05,http500=0.05,unknown=0.05,traffic=0.03,unsigned=0.03,badsig=0.03,truncate=0.03,replay=0.02,latency=0.03:300"
client=SANDBOX_TORTURE
customers=20

work=$(mktemp -d /tmp/autodebit-torture.XXXXXX)
chmod 755 "$work"
. scripts/lib.sh
sandbox_bin=$repo/sandbox/autodebit-sandbox
cleanup() {
	touch "$work/stop" 2>/dev/null
	for pid in ${bg_pids:-}; do kill "$pid" 2>/dev/null; done
	stop_all
	if [ -n "$keep" ] || [ "${verdict:-1}" -ne 0 ]; then echo "torture: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
echo "torture: seed $seed, $orders orders, $kills kills, $workers workers (repeat with --seed $seed)"

# --- the acquirer and the cluster -------------------------------------------------------
make_keys
# every answer takes 5-10 ms, so that a kill finds backends in the middle of an exchange
start_sandbox --seed "$seed" --default-balance 1000000000000 --settle-ms 2000 --threads 8 --latency-ms 5 || exit 1
port=$(free_port)
cluster_port=$port start_cluster "max_connections = 60" "fsync = on" "synchronous_commit = on" \
	"autodebit.order_close_grace = '2s'" "autodebit.max_check_interval = '5s'" \
	"autodebit.orphan_policy = 'cancel'" "log_min_messages = warning" || exit 1
cluster_port=$port
psql_as() {	# psql_as NAME [psql args]: a session named torture-NAME
	local name=$1; shift
	as_server env PGAPPNAME="torture-$name" PGOPTIONS="-c client_min_messages=error" \
		"$ad_bindir/psql" -X -q -h "$work" -p "$port" -U postgres -d postgres "$@"
}
wait_up() {	# until the cluster takes connections again (after a kill it restarts)
	for _ in $(seq 600); do
		as_server "$ad_bindir/pg_isready" -q -h "$work" -p "$port" && return 0
		sleep 0.1
	done
	return 1
}
sql() { psql_as setup -At -v ON_ERROR_STOP=1 -c "$1"; }

sql "CREATE EXTENSION autodebit" >/dev/null
sql "SELECT 1 FROM autodebit_merchant_set('$client', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'TORTURE')" >/dev/null
for c in $(seq "$customers"); do
	url=$(sql "SELECT auth_url FROM autodebit_consult('c$c', 'GCASH', 'https://torture.example/done')")
	redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url&decision=agree&user=c$c-wallet")
	state=$(echo "$redirect" | sed -n 's/.*authState=\([^&]*\).*/\1/p')
	code=$(echo "$redirect" | sed -n 's/.*authCode=\([^&]*\).*/\1/p')
	sql "SELECT status FROM autodebit_apply_token('$state', '$code')" >/dev/null || exit 1
done

# --- the load: per worker, one file per unit of work (one that dies with its backend is not re-run)
mkdir -p "$work/load"
awk -v n="$orders" -v w="$workers" -v seed="$seed" -v customers="$customers" -v dir="$work/load" '
function amount(   r) {
	r = rand();
	if (r < 0.03) return 9001;		# declined
	if (r < 0.05) return 9003;		# pending, then paid
	if (r < 0.06) return 9004;		# pending, then failed
	return 100 + int(rand() * 4900);
}
function pay(ref, amt, cust, extra) {
	return sprintf("SELECT autodebit_pay(%s, %s, %d, %s, %s%s);\n", q(cust), q(ref), amt, q("USD"), q("torture " ref), extra);
}
function q(s) { return "\047" s "\047"; }
function emit(k, text) { chunk[k] = chunk[k] text; flush(k); }
function flush(k) { if (chunk[k] != "") { f = sprintf("%s/w%d-%05d.sql", dir, k, ++files[k]); printf "%s", chunk[k] > f; close(f); chunk[k] = ""; } }
BEGIN {
	srand(seed);
	i = 0;
	while (i < n) {
		units++;
		for (u in later) if (later_at[u] <= units) { emit(later_k[u], later[u]); delete later[u]; }
		k = int(rand() * w);
		cust = "c" (1 + int(rand() * customers));
		amt = amount();
		r = rand();
		if (r < 0.25) {				# sync, autocommit
			i++; emit(k, pay("sy-" i, amt, cust, ""));
		} else if (r < 0.35) {		# sync inside a transaction that commits
			i++; emit(k, "BEGIN;\n" pay("sc-" i, amt, cust, "") "SELECT pg_sleep(0.01);\nCOMMIT;\n");
		} else if (r < 0.45) {		# sync, rolled back after the pay went out
			i++; emit(k, "BEGIN;\n" pay("rb-" i, amt, cust, "") "ROLLBACK;\n");
		} else if (r < 0.49) {		# paid twice by one session
			i++; emit(k, pay("pt-" i, amt, cust, "") pay("pt-" i, amt, cust, ""));
		} else if (r < 0.52) {		# paid, then paid again a little later by another session
			i++; text = pay("pl-" i, amt, cust, "");
			emit(k, text); later[i] = text; later_k[i] = (k + 2) % w; later_at[i] = units + 8;
		} else if (r < 0.55) {		# paid by two sessions at once
			i++; k2 = (k + 1) % w;
			emit(k, pay("tw-" i, amt, cust, "")); emit(k2, pay("tw-" i, amt, cust, ""));
		} else if (r < 0.62) {		# paid, then part refunded (a third of refunds rolled back)
			i++; ref = "rf-" i; if (amt > 9000) amt = 2000;
			refund = sprintf("SELECT autodebit_refund((SELECT payment_request_id FROM autodebit.payments WHERE order_ref = %s AND status = %s ORDER BY attempt DESC LIMIT 1), %d);\n", q(ref), q("SUCCESS"), int(amt / 2));
			emit(k, pay(ref, amt, cust, "") (rand() < 0.33 ? "BEGIN;\n" refund "ROLLBACK;\n" : refund));
		} else {					# a deferred batch of ten; a tenth of batches roll back
			rolled = (rand() < 0.1);
			text = "BEGIN;\n";
			for (j = 0; j < 10 && i < n; j++) {
				i++; text = text pay((rolled ? "dr-" : "df-") i, amount(), "c" (1 + int(rand() * customers)), ", deferred => true");
			}
			emit(k, text (rolled ? "ROLLBACK;\n" : "COMMIT;\n"));
		}
	}
	for (u in later) emit(later_k[u], later[u]);
	for (k = 0; k < w; k++) flush(k);
}'
chown -R "$server_user" "$work/load"
total_chunks=$(ls "$work/load" | wc -l)
: > "$work/progress"

# faults from now on (authorization above was clean)
curl -s -X POST -H 'Content-Type: application/json' --data "{\"spec\":\"$faults_spec\"}" \
	"$gateway/sandbox/admin/faults" >/dev/null

worker() {
	local k=$1
	for f in "$work"/load/w$k-*.sql; do
		[ -f "$work/stop" ] && return
		wait_up
		psql_as "worker-$k" -f "$f" >/dev/null 2>>"$work/worker-$k.err"
		echo "$f" >> "$work/progress"
	done
}
runner() {
	local k=$1
	while [ ! -f "$work/load_done" ] && [ ! -f "$work/stop" ]; do
		wait_up
		psql_as "runner-$k" -c "CALL autodebit_run(50)" >/dev/null 2>>"$work/runner-$k.err"
		sleep 0.2
	done
}
bg_pids=
for k in $(seq 0 $((workers - 1))); do worker "$k" & bg_pids="$bg_pids $!"; done
worker_pids=$bg_pids
runner_pids=
for k in 1 2; do runner "$k" & runner_pids="$runner_pids $!"; done
bg_pids="$bg_pids $runner_pids"

# the killer: kill -9 of a working backend at evenly spread points of the load, and one
# immediate stop of the whole cluster half way
killed=0
crashes=0
for step in $(seq 1 $((kills + 1))); do
	at=$(( total_chunks * step / (kills + 2) ))
	while [ "$(wc -l < "$work/progress" 2>/dev/null || echo 0)" -lt "$at" ]; do
		alive=0
		for pid in $worker_pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ $alive -eq 1 ] || break 2
		sleep 0.05
	done
	if [ "$step" -eq $(( (kills + 2) / 2 )) ] && [ $crashes -eq 0 ]; then
		as_server "$ad_bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1
		as_server "$ad_bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null 2>&1
		crashes=$((crashes + 1))
		continue
	fi
	[ $killed -lt "$kills" ] || continue
	for _ in $(seq 100); do		# a backend that is working right now
		wait_up
		victim=$(psql_as killer -At -c "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'torture-%' AND application_name <> 'torture-killer' AND state = 'active' ORDER BY random() LIMIT 1" 2>/dev/null)
		if [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; then
			killed=$((killed + 1))
			break
		fi
		sleep 0.02
	done
done
for pid in $worker_pids; do wait "$pid" 2>/dev/null; done
touch "$work/load_done"
for pid in $runner_pids; do wait "$pid" 2>/dev/null; done
bg_pids=
echo "torture: load done ($(wc -l < "$work/progress") chunks); settling"

# --- settle, as the README tells a merchant: CALL autodebit_run() every so often ---------
settle() { wait_up; psql_as settle -c "CALL autodebit_run()" >/dev/null 2>>"$work/settle.err"; }
for _ in 1 2 3; do settle; sleep 1; done		# the outage is still on
faults=$(curl -s "$gateway/sandbox/admin/stats" | jq '[.faults // {} | .[]] | add // 0')
curl -s -X POST -H 'Content-Type: application/json' --data '{"clear":true}' "$gateway/sandbox/admin/faults" >/dev/null
open_items() {
	psql_as settle -At -c "SELECT (SELECT count(*) FROM autodebit.payment p WHERE status IN ('QUEUED', 'SENDING', 'PROCESSING', 'UNKNOWN')
			OR (to_jsonb(p) ? 'cancel_wanted' AND to_jsonb(p)->>'cancel_wanted' IS NOT NULL AND status = 'SUCCESS' AND refunded_minor < amount_minor))
		+ (SELECT count(*) FROM autodebit.refund WHERE status IN ('SENDING', 'PROCESSING', 'UNKNOWN'))
		+ (SELECT count(*) FROM autodebit.journal_retry)
		+ (SELECT count(*) FROM autodebit._journal_read((SELECT lsn FROM autodebit.journal_cursor), 100000, 1000000000)
		   WHERE api IS NOT NULL)" 2>/dev/null
}
rounds=0
while [ $rounds -lt 120 ]; do
	settle
	rounds=$((rounds + 1))
	[ "$(open_items)" = "0" ] && break
	sleep 1
done
echo "torture: settled after $rounds rounds of autodebit_run()"

# --- the verdict ---------------------------------------------------------------------------
curl -s "$gateway/sandbox/admin/ledger" > "$work/ledger.json"
chmod 644 "$work/ledger.json"
out=$(psql_as verdict -v ledger="$work/ledger.json" -v client="$client" -v orders="$orders" \
	-v faults="$faults" -v kills="$killed" -v crashes="$crashes" -f "$repo/test/torture/compare.sql" 2>&1)
echo "$out" | grep -v '^torture: \(PASS\|FAIL\)$'
if echo "$out" | grep -qx 'torture: PASS'; then verdict=0; else verdict=1; fi
exit $verdict
