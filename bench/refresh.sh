#!/usr/bin/env bash
# How many tokens can autodebit_run() refresh (issue 14, P4)?  N agreements whose access tokens
# are due, against a sandbox that answers applyToken after LATENCY ms; one CALL autodebit_run()
# refreshes them concurrently (autodebit.max_in_flight at a time).  Prints the run's time, the
# refreshes per second, the same work one round trip at a time (N x the latency, what the
# sequential refresh did, 500 per run at most), and what that means per day.
#
#   bench/refresh.sh [agreements (1000)] [latency-ms (200)] [in-flight (200)]
#
# Needs root or a user who can run initdb; installs nothing (make install first).
set -euo pipefail
cd "$(dirname "$0")/.."
agreements=${1:-1000}
latency=${2:-200}
in_flight=${3:-200}

. scripts/lib.sh
bench_work refresh

make_keys
start_sandbox --threads 4
cluster_port=$(free_port)
start_cluster "shared_buffers = '256MB'" "max_connections = 20"
sql() { cluster_psql -At -c "$1"; }
sql "CREATE EXTENSION autodebit" >/dev/null
sql "SELECT 1 FROM autodebit_merchant_set('SANDBOX_BENCH', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'BENCH')" >/dev/null

echo "Authorizing $agreements customers (consult, the consent page, applyToken) ..."
authorize_one() {
	local url redirect
	url=$(cluster_psql -At -c "SELECT auth_url FROM autodebit_consult('rf-$1', 'GCASH', 'https://bench.example/done')")
	redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url&decision=agree&user=rf-wallet-$1")
	cluster_psql -At -c "SELECT 1 FROM autodebit_apply_token('$(echo "$redirect" | sed -n 's/.*authState=\([^&]*\).*/\1/p')', '$(echo "$redirect" | sed -n 's/.*authCode=\([^&]*\).*/\1/p')')" >/dev/null
}
export -f authorize_one cluster_psql as_server
export work ad_bindir cluster_port
seq "$agreements" | xargs -P 4 -I{} bash -c 'authorize_one {}'
echo "  $(sql "SELECT count(*) FROM autodebit.agreement WHERE status = 'ACTIVE'") agreements"

# every applyToken from now on takes $latency ms at the acquirer; every token is due
curl -s -X POST -H 'Content-Type: application/json' -d "{\"spec\":\"latency=1:$latency@applyToken\"}" \
	"$gateway/sandbox/admin/faults" >/dev/null
sql "UPDATE autodebit.agreement SET access_token_expires_at = now() + interval '1 minute'" >/dev/null
sql "SELECT id, access_token_fp FROM autodebit.agreement" > "$work/before"

echo "CALL autodebit_run() with autodebit.max_in_flight = $in_flight, applyToken at $latency ms:"
t0=$(date +%s.%N)
as_server env PGOPTIONS="-c autodebit.max_in_flight=$in_flight -c client_min_messages=warning" \
	"$ad_bindir/psql" -X -q -h "$work" -p "$cluster_port" -U postgres -d postgres -c "CALL autodebit_run()"
t1=$(date +%s.%N)
refreshed=$(sql "SELECT count(*) FROM autodebit.agreement WHERE access_token_expires_at > now() + interval '1 hour'")
awk -v a="$t0" -v b="$t1" -v r="$refreshed" -v n="$agreements" -v l="$latency" -v f="$in_flight" 'BEGIN {
	s = b - a
	printf "  %d of %d refreshed in %.2f s: %.0f refreshes/s\n", r, n, s, r / s
	printf "  one round trip at a time: %.1f s (%d x %d ms): the run is %.0fx faster\n", n * l / 1000, n, l, n * l / 1000 / s
	printf "  the latency floor at %d in flight: %.2f s; the run is %.2fx it\n", f, n / f * l / 1000, s / (n / f * l / 1000)
	printf "  per day at this rate: %.1f M refreshes (a run a minute, %.0f%% of it refreshing)\n", r / s * 86400 / 1e6, 100
	printf "  the sequential refresh (500 a run, one a minute): %.2f M a day at most\n", 500 * 1440 / 1e6 }'
