#!/usr/bin/env bash
# How fast does CALL autodebit_run() send many due debits to a slow acquirer?
#
# Issue 5 / DESIGN §8: 10,000 due debits against the sandbox with --latency-ms 200 complete in
# under 15 s on 2 cores.  Prints, measured in this run: the run's time; the ratio to the same
# debits sent one at a time (measured on a sample, extrapolated); and the ratio to the RSA
# signing bound (our 10,000 signatures plus the sandbox's 10,000, on 2 cores, at the
# `openssl speed -multi 2 rsa2048` rate: what both cores sign together).
#
# Then the peer, against the same 200 ms sandbox: a merchant backend in the Antom Python SDK's
# way (bench/peer/sdk_merchant.py: a thread pool, per order a connection, INSERT, pay, UPDATE,
# COMMIT; the key cached by hand), the same number of debits, and the ratio.
#
#   bench/run-10k.sh [debits (10000)] [in-flight (1000)] [peer-threads (200)]
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-10000}
in_flight=${2:-1000}
peer_threads=${3:-200}
sample=20

. scripts/lib.sh
bench_work run10k

make_keys
start_sandbox --latency-ms 200 --default-balance 1000000000000 --threads 4
cluster_port=5497 start_cluster "shared_buffers = '256MB'" "max_connections = $((peer_threads + 20))" \
	"synchronous_commit = on" "max_wal_size = '2GB'"
cluster_port=5497
sql() { cluster_psql -At -c "$1"; }

authorize_customer SANDBOX_BENCH bench

echo "RSA-2048 signing speed (openssl speed -multi 2: both cores at once):"
sign2_per_s=$(openssl speed -multi 2 -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')
echo "  $sign2_per_s signs/s"

echo "One at a time: $sample synchronous autodebit_pay() calls against the 200 ms sandbox"
t0=$(date +%s.%N)
sql "DO \$\$ BEGIN FOR i IN 1..$sample LOOP PERFORM autodebit_pay('bench', 'single-' || i, 100, 'USD', 'one at a time'); END LOOP; END \$\$" >/dev/null
t1=$(date +%s.%N)
per_call=$(awk -v a="$t0" -v b="$t1" -v s="$sample" 'BEGIN {printf "%.4f", (b - a) / s}')
echo "  $per_call s per debit"

echo "Queueing $total deferred debits"
sql "DO \$\$ BEGIN FOR i IN 1..$total LOOP PERFORM autodebit_pay('bench', 'due-' || i, 100, 'USD', 'due debit', deferred => true); END LOOP; END \$\$" >/dev/null
sql "SELECT status || ': ' || payments FROM autodebit.queue"

# RUNS=k: k sessions CALL autodebit_run() at once, each a k-th of the debits and of the in-flight
# limit (SKIP LOCKED claims: two runs never take the same payment), as k pg_cron jobs would
runs=${RUNS:-1}
echo "CALL autodebit_run(batch_size => $((total / runs))) in $runs session(s) at once, autodebit.max_in_flight = $((in_flight / runs)) each"
# the kernel's counters of a connection burst gone wrong: listen queue overflows, SYN retransmits
tcp_counters() { nstat -az TcpExtListenOverflows TcpExtListenDrops TcpExtTCPSynRetrans TcpRetransSegs 2>/dev/null | awk 'NR > 1 {printf "%s=%s ", $1, $2}'; }
nstat -n >/dev/null 2>&1 || true
tcp_before=$(tcp_counters)
# CPU over the run: the whole machine (/proc/stat) and the sandbox's own (its /proc/PID/stat)
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
sandbox_ticks() { awk '{print $14 + $15}' "/proc/$sandbox_pid/stat"; }
c0=$(cpu_ticks); s0=$(sandbox_ticks)
t0=$(date +%s.%N)
run_pids=()
for _ in $(seq "$runs"); do
	as_server env PGOPTIONS="-c autodebit.max_in_flight=$((in_flight / runs)) -c client_min_messages=warning" \
		"$ad_bindir/psql" -X -q -h "$work" -p 5497 -U postgres -d postgres -c "CALL autodebit_run(batch_size => $((total / runs)))" &
	run_pids+=($!)
done
wait "${run_pids[@]}"
t1=$(date +%s.%N)
c1=$(cpu_ticks); s1=$(sandbox_ticks)
tcp_after=$(tcp_counters)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')

ok=$(sql "SELECT count(*) FROM autodebit.payment WHERE order_ref LIKE 'due-%' AND status = 'SUCCESS'")
debits=$(curl -s "$gateway/sandbox/admin/ledger" | jq '[.payments[] | select((.referenceOrderId | startswith("due-")) and .status == "SUCCESS")] | length')
run=$(sql "SELECT format('claimed %s, sent %s, succeeded %s, failed %s, unknown %s', sum(claimed), sum(sent), sum(succeeded), sum(failed), sum(unknown))
	FROM (SELECT * FROM autodebit.run ORDER BY id DESC LIMIT $runs) r")

awk -v n="$total" -v e="$elapsed" -v p="$per_call" -v s2="$sign2_per_s" -v ok="$ok" -v d="$debits" -v run="$run" -v cpu=$((c1 - c0)) -v sb=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
	serial = n * p; bound = 2 * n / s2;
	printf "\n  %d debits in %.2f s (%.0f debits/s)   target: under 15 s\n", n, e, n / e;
	printf "  run: %s; SUCCESS rows %d, sandbox debits %d\n", run, ok, d;
	printf "  one at a time would take %.0f s: the run is %.0fx faster\n", serial, serial / e;
	printf "  RSA bound (%d signatures on 2 cores): %.2f s: the run takes %.1fx that\n", 2 * n, bound, e / bound;
	printf "  CPU a debit: %.2f ms on the machine (cores %.0f%% busy), of it the sandbox %.2f ms\n",
		1000 * cpu / hz / n, 100 * cpu / hz / e / 2, 1000 * sb / hz / n;
}'
echo "  TCP counters before: $tcp_before"
echo "  TCP counters after:  $tcp_after"

if [ "${PEER:-1}" != 0 ] && /usr/bin/python3 -c 'import cryptography, psycopg2' 2>/dev/null; then
	sql "CREATE TABLE orders (order_ref text PRIMARY KEY, amount bigint, status text, payment_id text,
		created_at timestamptz DEFAULT now())" >/dev/null
	echo "The peer (Antom Python SDK's way + psycopg2, key cached, $peer_threads threads), $total debits at 200 ms:"
	r=$(/usr/bin/python3 bench/peer/sdk_merchant.py batch --orders "$total" --threads "$peer_threads" --cache-key \
		--gateway "$gateway" --dsn "host=$work port=5497 user=postgres dbname=postgres" \
		--merchant-key "$work/keys/merchant.pem" --acquirer-public-key "$work/acquirer/sandbox.pub" \
		--client-id SANDBOX_PEER | sed -n 's/^RESULT //p')
	ps=$(echo "$r" | tr ' ' '\n' | sed -n 's/^seconds=//p')
	pok=$(echo "$r" | tr ' ' '\n' | sed -n 's/^success=//p')
	awk -v ps="$ps" -v e="$elapsed" -v ok="$pok" -v n="$total" 'BEGIN {
		printf "  %.2f s (%d/%d SUCCESS): autodebit_run() is %.1fx faster\n", ps, ok, n, ps / e }'
fi
