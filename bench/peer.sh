#!/usr/bin/env bash
# bench/peer.sh — the peer numbers: a merchant backend in the style of the official Antom
# Python SDK + psycopg2 (bench/peer/sdk_merchant.py), timed against private sandboxes and a
# private PostgreSQL cluster, so the benchmarks can print ratios against the extension.
#
# Runs, each printing its RESULT line:
#   1. sync, keys parsed per use (as the SDK ships), orders-sync orders, 0 ms sandbox
#   2. sync --cache-key, orders-sync orders, 0 ms sandbox
#   3. batch --cache-key, orders-batch orders on T threads, sandbox at latency-ms
#   4. batch as shipped, the same (only with a 5th argument or PEER_SHIPPED_BATCH=1)
#
#   bench/peer.sh [orders-sync (200)] [orders-batch (2000)] [latency-ms (200)] [threads (200)] [shipped-batch]
#
# Needs plain PostgreSQL (pg_config --bindir), the built sandbox (sandbox/autodebit-sandbox),
# Debian's /usr/bin/python3 with python3-cryptography and python3-psycopg2, openssl, curl.
# As root the server runs as the postgres user (scripts/lib.sh).  KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
orders_sync=${1:-200}
orders_batch=${2:-2000}
latency_ms=${3:-200}
threads=${4:-200}
shipped_batch=${PEER_SHIPPED_BATCH:-0}
[ $# -ge 5 ] && shipped_batch=1
python=/usr/bin/python3

. scripts/lib.sh
bench_work peer

"$python" -c 'import cryptography, psycopg2' 2>/dev/null || {
	echo "bench/peer.sh needs $python with python3-cryptography and python3-psycopg2 (apt-get install -y python3-cryptography python3-psycopg2)" >&2
	exit 1
}

make_keys
start_sandbox --default-balance 1000000000000
fast_gateway=$gateway
sandbox_name=slow start_sandbox --latency-ms "$latency_ms" --default-balance 1000000000000
slow_gateway=$gateway
cluster_port=$(free_port)
# one connection per order and up to $threads orders at once, plus room for psql
start_cluster "max_connections = $((threads + 20))"
cluster_psql -q -c "CREATE TABLE orders (order_ref text PRIMARY KEY, amount bigint, status text,
	payment_id text, created_at timestamptz DEFAULT now())"
dsn="host=$work port=$cluster_port user=postgres dbname=postgres"

# peer GATEWAY ARGS...: one run of the peer against GATEWAY; prints its output, fails if it did.
peer() {
	local gw=$1; shift
	"$python" bench/peer/sdk_merchant.py "$@" --gateway "$gw" --dsn "$dsn" \
		--merchant-key "$work/keys/merchant.pem" --acquirer-public-key "$work/acquirer/sandbox.pub" \
		--client-id SANDBOX_PEER
}

status=0
echo "== sync, keys parsed per use (as shipped): $orders_sync orders, 0 ms sandbox"
peer "$fast_gateway" sync --orders "$orders_sync" || status=1
echo "== sync --cache-key: $orders_sync orders, 0 ms sandbox"
peer "$fast_gateway" sync --orders "$orders_sync" --cache-key || status=1
echo "== batch --cache-key: $orders_batch orders, $threads threads, $latency_ms ms sandbox"
peer "$slow_gateway" batch --orders "$orders_batch" --threads "$threads" --cache-key || status=1
if [ "$shipped_batch" = 1 ]; then
	echo "== batch, keys parsed per use (as shipped): $orders_batch orders, $threads threads, $latency_ms ms sandbox"
	peer "$slow_gateway" batch --orders "$orders_batch" --threads "$threads" || status=1
fi

# every row the runs wrote, by status (all SUCCESS when all went well)
echo "== orders table: $(cluster_psql -At -F ' ' -c "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status) s")"
exit $status
