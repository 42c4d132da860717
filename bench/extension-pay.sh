#!/usr/bin/env bash
# How fast is one synchronous autodebit_pay(), against the RSA work it implies?
#
# DESIGN §8: one pay against the zero-latency sandbox should cost at most 1.5x the two
# RSA-2048 signatures it implies (ours and the sandbox's), measured by `openssl speed` in the
# same run.  Also: connections are reused (one TCP connection per backend), and a backend's
# memory stays flat over many calls.
#
#   bench/extension-pay.sh [seconds-per-run (10)] [calls-for-memory-run (100000)]
#
# Prints ratios measured in this run.  Needs root or a user who can run initdb; installs nothing
# (run scripts/install-deps.sh and make install first).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
mem_calls=${2:-100000}

. scripts/lib.sh
bench_work bench

make_keys
start_sandbox --default-balance 1000000000000
cluster_port=5498 start_cluster "shared_buffers = '256MB'" "max_connections = 20"
cluster_port=5498
sql() { cluster_psql -At -c "$1"; }

authorize_customer SANDBOX_BENCH bench
sql "CREATE SEQUENCE bench_orders" >/dev/null

cat > "$work/pay.sql" <<'EOF'
SELECT status FROM autodebit_pay('bench', 'o-' || nextval('bench_orders'), 100, 'USD', 'bench');
EOF
chown "$server_user" "$work/pay.sql"

# One pgbench run of single-client pays; prints the average latency in ms.
pay_latency() {
	as_server env PGOPTIONS="${1:-}" "$ad_bindir/pgbench" -n -c 1 -j 1 -T "$secs" -f "$work/pay.sql" \
		-h "$work" -p 5498 -U postgres postgres 2>/dev/null |
		sed -n 's/^latency average = \([0-9.]*\) ms/\1/p'
}

echo "RSA-2048 signing speed (openssl speed, one core):"
sign_per_s=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')
two_signs_ms=$(awk -v s="$sign_per_s" 'BEGIN {printf "%.3f", 2000 / s}')
echo "  $sign_per_s signs/s: two signatures = $two_signs_ms ms"

echo "Synchronous autodebit_pay(), one client, ${secs}s each:"
declare -A lat
for variant in default "no-commit-fsync" "no-commit-fsync,no-journal"; do
	case $variant in
		default) opts="" ;;
		no-commit-fsync) opts="-c synchronous_commit=off" ;;
		*) opts="-c synchronous_commit=off -c autodebit.journal=off" ;;
	esac
	lat[$variant]=$(pay_latency "$opts")
	printf "  %-28s %7.3f ms/pay  = %5.2fx two RSA signatures\n" "$variant" "${lat[$variant]}" \
		"$(awk -v l="${lat[$variant]}" -v t="$two_signs_ms" 'BEGIN {print l / t}')"
done
paid=$(curl -s "$gateway/sandbox/admin/ledger" | jq '[.payments[] | select(.status == "SUCCESS")] | length')
rows=$(sql "SELECT count(*) FROM autodebit.payment WHERE status = 'SUCCESS'")
echo "  sandbox debits: $paid, SUCCESS rows: $rows"

echo "Connection reuse and backend memory over $mem_calls calls:"
as_server env PGOPTIONS="-c synchronous_commit=off" "$ad_bindir/pgbench" -n -c 1 -j 1 \
	-t "$mem_calls" -f "$work/pay.sql" -h "$work" -p 5498 -U postgres postgres > "$work/mem.out" 2>&1 &
bench_pid=$!
sleep 3
pid=$(sql "SELECT pid FROM pg_stat_activity WHERE query LIKE '%autodebit_pay(%' AND pid <> pg_backend_pid() LIMIT 1")
port=${gateway##*:}
conns=$(ss -Htn state established "( dport = :$port )" | wc -l)
echo "  TCP connections from the cluster to the sandbox during the run: $conns"
first=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")
samples="$first"
while kill -0 "$bench_pid" 2>/dev/null; do
	sleep 5
	rss=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
	[ -n "$rss" ] && samples="$samples $rss" && last=$rss
done
wait "$bench_pid" || true
done_calls=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/mem.out")
echo "  backend private memory (RssAnon, kB; shared buffers excluded) every 5 s: $samples"
echo "  calls: $done_calls; RssAnon after 3 s: $first kB, at the end: ${last:-$first} kB"
