#!/usr/bin/env bash
# One synchronous autodebit_pay() against the physical limit of this machine (issue 14, P1).
#
# The limit, measured in this run: the two RSA-2048 signatures and two verifications a pay
# implies (ours and the acquirer's; `openssl speed`, one core), one loopback HTTP round trip
# (wrk, one keep-alive connection to the sandbox), and the two fdatasyncs a no-lost-debit pay
# needs (the journal record before sending, the commit after; `pg_test_fsync`).  Then, from the
# pays themselves: SQL statements executed per pay (pg_stat_statements, nested ones included),
# foreign-key checks among them, writes of the payment row, and file-system calls per pay
# (strace on the backend).
#
# Then, against the same sandbox and cluster: sync pays/s with 1, 2, 4 and 8 clients (P3), with
# the cores' busy share and CPU per pay, and what 1 and 4 clients wait on (wait events sampled
# from pg_stat_activity; fdatasyncs per pay and their time from pg_stat_wal); and
# the peer -- a merchant backend in the Antom Python SDK's way (bench/peer/sdk_merchant.py) --
# paying the same way, as shipped (the PEM key parsed for every signature) and with the key
# cached by hand, with the ratios.
#
#   bench/pay-limit.sh [seconds-per-latency-run (10)] [pays-for-counting (300)] [peer-orders (200)]
#   CONF='commit_delay = 100;commit_siblings = 2' bench/pay-limit.sh ...    (extra server settings)
#
# Needs root (strace, initdb as the server user); installs nothing (make install first).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
count=${2:-300}
peer_orders=${3:-200}

. scripts/lib.sh
bench_work limit

make_keys
start_sandbox --default-balance 1000000000000
cluster_port=$(free_port)
# CONF='setting = value;...' adds server settings (say commit_delay) to compare with a plain run
IFS=';' read -ra extra_conf <<< "${CONF:-}"
start_cluster "shared_buffers = '256MB'" "max_connections = 40" "track_wal_io_timing = on" ${extra_conf[@]+"${extra_conf[@]}"}
sql() { cluster_psql -At -c "$1"; }
# eight customers: each pgbench client pays for its own, as a merchant's concurrent pays do
for c in 1 2 3 4 5 6 7 8; do authorize_customer SANDBOX_BENCH "bench-$c" 2>/dev/null; done
sql "CREATE SEQUENCE bench_orders" >/dev/null
echo "SELECT status FROM autodebit_pay('bench-' || (:client_id % 8 + 1), 'o-' || nextval('bench_orders'), 100, 'USD', 'bench');" > "$work/pay.sql"
chown "$server_user" "$work/pay.sql"
pgbench() { as_server "$ad_bindir/pgbench" -n -h "$work" -p "$cluster_port" -U postgres "$@" postgres; }

# --- the limit ---------------------------------------------------------------------------------
read -r sign_s verify_s < <(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6, $7}')
# the same signing on both cores at once: what two cores really give (a VM's vCPUs may share a
# physical core or a busy host), the yardstick for P3's scaling and its RSA bound
sign2_s=$(openssl speed -multi 2 -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')
rtt_ms=$(wrk -t1 -c1 -d3s "$gateway/sandbox/round-trip" 2>/dev/null | awk '/Latency/ {
	v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
	else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.4f", v }')
fsync_ops=$(as_server "$ad_bindir/pg_test_fsync" -s 3 -f "$work/fsync.test" 2>/dev/null |
	awk '/^ *fdatasync/ {print $2; exit}')
limit=$(awk -v s="$sign_s" -v v="$verify_s" -v r="$rtt_ms" -v f="$fsync_ops" \
	'BEGIN {printf "%.3f", 2000 / s + 2000 / v + r + 2000 / f}')
echo "The physical limit of one synchronous pay here:"
awk -v s="$sign_s" -v v="$verify_s" -v r="$rtt_ms" -v f="$fsync_ops" -v l="$limit" 'BEGIN {
	printf "  2 RSA-2048 signs   %7.3f ms  (%d signs/s, one core)\n", 2000 / s, s
	printf "  2 verifications    %7.3f ms  (%d verifies/s)\n", 2000 / v, v
	printf "  1 loopback HTTP    %7.3f ms  (wrk, one keep-alive connection)\n", r
	printf "  2 fdatasyncs       %7.3f ms  (%d fdatasyncs/s, pg_test_fsync)\n", 2000 / f, f
	printf "  limit              %7.3f ms\n", l }'

# --- one pay -----------------------------------------------------------------------------------
pgbench -c 1 -j 1 -T 2 -f "$work/pay.sql" >/dev/null 2>&1		# warm the caches
lat=$(pgbench -c 1 -j 1 -T "$secs" -f "$work/pay.sql" 2>/dev/null | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
echo "Synchronous autodebit_pay(), one client, ${secs} s:"
awk -v l="$lat" -v m="$limit" 'BEGIN {printf "  %.3f ms per pay = %.2fx the limit (target 1.3x)\n", l, l / m}'

# --- clients (P3) -------------------------------------------------------------------------------
awk -v s="$sign_s" -v s2="$sign2_s" 'BEGIN {
	printf "Synchronous pays/s by clients, %d s each.  The RSA bound on 2 cores, two signs a pay: %d/s\n", '"$secs"', s2 / 2
	printf "(openssl speed -multi 2 signs %d/s, %.2fx its one-core %d/s: what two cores give here)\n", s2, s2 / s, s }'
# (busy: the machine's CPU time over the run, /proc/stat; per pay: that time over the pays)
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
sandbox_ticks() { awk '{print $14 + $15}' "/proc/$sandbox_pid/stat"; }
for c in 1 2 4 8; do
	t0=$(cpu_ticks); s0=$(sandbox_ticks)
	tps=$(pgbench -c "$c" -j "$c" -T "$secs" -f "$work/pay.sql" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
	t1=$(cpu_ticks); s1=$(sandbox_ticks)
	[ "$c" = 1 ] && tps1=$tps
	awk -v c="$c" -v t="$tps" -v t1="$tps1" -v s2="$sign2_s" -v ticks=$((t1 - t0)) -v sb=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" -v secs="$secs" 'BEGIN {
		printf "  %d client%s %6.0f pays/s  = %4.2fx one client, %3.0f%% of the RSA bound; cores %3.0f%% busy, %.2f ms of CPU a pay (the sandbox %.2f)\n",
			c, (c > 1 ? "s" : " "), t, t / t1, 100 * t / (s2 / 2), 100 * ticks / hz / secs / 2, 1000 * ticks / hz / (t * secs), 1000 * sb / hz / (t * secs) }'
done

# --- what serializes clients: the backends' wait events and the WAL's fdatasyncs ------------------
# (a separate run per client count: the sampler is a backend too)
echo "What the pays wait on (pg_stat_activity sampled every 3 ms; pg_stat_wal over the run):"
sql "CREATE TABLE bench_waits (clients integer, what text)" >/dev/null
for c in 1 4; do
	sql "SELECT pg_stat_reset_shared('wal')" >/dev/null
	pgbench -c "$c" -j "$c" -T "$secs" -f "$work/pay.sql" > "$work/waits-$c.out" 2>&1 &
	bench_pid=$!
	sleep 1
	sql "DO \$\$ BEGIN FOR i IN 1..$(((secs - 2) * 250)) LOOP
			PERFORM pg_stat_clear_snapshot();
			INSERT INTO bench_waits SELECT $c, coalesce(wait_event_type || ':' || wait_event, 'CPU')
			FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active';
			PERFORM pg_sleep(0.003);
		END LOOP; END \$\$" >/dev/null
	wait "$bench_pid"
	done_pays=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/waits-$c.out")
	echo "  $c client$([ "$c" = 1 ] || echo s): $(sql "SELECT string_agg(format('%s %s%%', what, pct), ', ' ORDER BY pct DESC)
		FROM (SELECT what, round(100.0 * count(*) / sum(count(*)) OVER ()) AS pct FROM bench_waits
			  WHERE clients = $c GROUP BY what ORDER BY pct DESC LIMIT 6) w")"
	echo "    $(sql "SELECT format('%s fdatasyncs a pay, %s ms each, the WAL device busy %s%% of the run', round(wal_sync::numeric / $done_pays, 2),
		round((wal_sync_time / nullif(wal_sync, 0))::numeric, 3), round((wal_sync_time / ($secs * 10))::numeric)) FROM pg_stat_wal")"
done

# --- the peer, against the same sandbox and cluster ---------------------------------------------
if /usr/bin/python3 -c 'import cryptography, psycopg2' 2>/dev/null; then
	sql "CREATE TABLE orders (order_ref text PRIMARY KEY, amount bigint, status text, payment_id text,
		created_at timestamptz DEFAULT now())" >/dev/null
	peer() {
		/usr/bin/python3 bench/peer/sdk_merchant.py sync --orders "$peer_orders" "$@" --gateway "$gateway" \
			--dsn "host=$work port=$cluster_port user=postgres dbname=postgres" \
			--merchant-key "$work/keys/merchant.pem" --acquirer-public-key "$work/acquirer/sandbox.pub" \
			--client-id SANDBOX_PEER | sed -n 's/^RESULT //p'
	}
	field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
	shipped=$(peer)
	cached=$(peer --cache-key)
	echo "The peer (Antom Python SDK's way + psycopg2: a connection, INSERT, pay, UPDATE, COMMIT per order), $peer_orders orders:"
	for v in shipped cached; do
		r=${!v}
		awk -v name="$v" -v o="$(field "$r" ms_per_pay)" -v p="$(field "$r" pay_ms)" -v l="$lat" -v ok="$(field "$r" success)" -v n="$peer_orders" 'BEGIN {
			printf "  %-8s %7.2f ms an order (the pay call alone %6.2f ms): %5.1fx autodebit_pay, whose %.2f ms include its rows; %d/%d SUCCESS\n",
				name, o, p, o / l, l, ok, n }'
	done
else
	echo "The peer: skipped (needs /usr/bin/python3 with python3-cryptography and python3-psycopg2)"
fi

# --- what a pay does (counted with the server restarted with counters on; times not used) -------
as_server "$ad_bindir/pg_ctl" -D "$work/data" -w -l "$work/server.log" restart -o "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_utility=off -c track_functions=all" >/dev/null
sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
pgbench -c 1 -j 1 -t 20 -f "$work/pay.sql" >/dev/null 2>&1
sql "SELECT pg_stat_statements_reset()" >/dev/null
sql "SELECT pg_stat_reset()" >/dev/null
before=$(sql "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relid = 'autodebit.payment'::regclass")
pgbench -c 1 -j 1 -t "$count" -f "$work/pay.sql" > "$work/count.out" 2>&1
done_pays=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/count.out")
sleep 1
echo "What one pay does (over $done_pays pays):"
sql "SELECT '  SQL statements per pay (nested, pg_stat_statements): ' || round(sum(calls)::numeric / $done_pays, 1)
	 || E'\n  ...of them foreign-key checks: ' || round(coalesce(sum(calls) FILTER (WHERE query LIKE 'SELECT % FROM ONLY %FOR KEY SHARE%'), 0)::numeric / $done_pays, 1)
	 FROM pg_stat_statements WHERE NOT toplevel"
after=$(sql "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relid = 'autodebit.payment'::regclass")
awk -v a="$after" -v b="$before" -v n="$done_pays" 'BEGIN {printf "  writes of the payment row per pay: %.1f\n", (a - b) / n}'
echo "  function calls per pay: $(sql "SELECT round(sum(calls)::numeric / $done_pays, 1) FROM pg_stat_user_functions")"
if [ -n "${TOP:-}" ]; then
	echo "  the $TOP functions with the most self time (us per pay, calls per pay; counters on):"
	sql "SELECT format('    %8s us %5s  %s', round(self_time::numeric * 1000 / $done_pays, 1), round(calls::numeric / $done_pays, 1), schemaname || '.' || funcname)
		 FROM pg_stat_user_functions ORDER BY self_time DESC LIMIT $TOP"
	echo "  the $TOP statements with the most time (us per call, calls per pay; counters on):"
	sql "SELECT format('    %8s us %5s  %s', round((total_exec_time / calls * 1000)::numeric, 1), round(calls::numeric / $done_pays, 1), left(regexp_replace(query, '\s+', ' ', 'g'), 100))
		 FROM pg_stat_statements WHERE NOT toplevel ORDER BY total_exec_time DESC LIMIT $TOP"
fi

# file-system calls: strace on the backend of another run
pgbench -c 1 -j 1 -t "$count" -f "$work/pay.sql" > "$work/count.out" 2>&1 &
bench_pid=$!
pid=
for _ in $(seq 100); do
	pid=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
	[ -n "$pid" ] && break
	sleep 0.05
done
strace -f -c -o "$work/strace.out" -p "$pid" 2>/dev/null &
strace_pid=$!
wait "$bench_pid" || true
sleep 0.5
kill "$strace_pid" 2>/dev/null || true; wait "$strace_pid" 2>/dev/null || true
sleep 1
done_pays=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/count.out")
echo "  file-system calls per pay (strace, $done_pays pays):"
awk -v n="$done_pays" '$NF ~ /^(stat|newfstatat|statx|lstat|openat|open|mkdir|fsync|fdatasync|close|unlink)$/ {
	printf "    %-12s %6.2f\n", $NF, $4 / n }' "$work/strace.out"
