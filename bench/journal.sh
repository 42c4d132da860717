#!/usr/bin/env bash
# What does the send journal cost a pay, with and without a synchronous standby?
#
# Issue 9: the journal record is a logical message in WAL, flushed and (with a synchronous
# standby) confirmed before the request goes out.  This runs N synchronous pays, one statement
# each, against the zero-latency sandbox, in four set-ups measured in one run: a primary with a
# synchronous standby on loopback, and the same primary alone, each with autodebit.journal on
# and off.  Prints mean and median per pay and the journal's share (on minus off).
#
#   bench/journal.sh [pays per set-up (300)]
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-300}

work=$(mktemp -d /tmp/autodebit-bench-journal.XXXXXX)
chmod 755 "$work"
. scripts/lib.sh
cleanup() {
	for d in primary standby; do
		[ -f "$work/$d/postmaster.pid" ] && as_server "$ad_bindir/pg_ctl" -D "$work/$d" -m fast stop >/dev/null 2>&1
	done
	for pid in ${sandbox_pids:-}; do kill "$pid" 2>/dev/null; done
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
make_keys
start_sandbox --default-balance 1000000000000
chown -R "$server_user" "$work"
on() { as_server "$ad_bindir/psql" -X -q -At -h "$work" -p "$1" -U postgres -d postgres "${@:2}"; }

as_server "$ad_bindir/initdb" -D "$work/primary" $ad_initdb_flags >/dev/null
cat >> "$work/primary/postgresql.conf" <<EOF
listen_addresses = ''
port = 5611
unix_socket_directories = '$work'
autodebit.key_directory = '$work/keys'
wal_level = replica
max_wal_senders = 5
EOF
as_server "$ad_bindir/pg_ctl" -D "$work/primary" -l "$work/primary.log" -w start >/dev/null
on 5611 -c "CREATE EXTENSION autodebit" >/dev/null
on 5611 -c "SELECT 1 FROM autodebit_merchant_set('SANDBOX_BENCH', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'BENCH')" >/dev/null
url=$(on 5611 -c "SELECT auth_url FROM autodebit_consult('bench', 'GCASH', 'https://bench.example/done')")
redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url&decision=agree&user=bench-wallet")
on 5611 -c "SELECT status FROM autodebit_apply_token('$(echo "$redirect" | sed -n 's/.*authState=\([^&]*\).*/\1/p')', '$(echo "$redirect" | sed -n 's/.*authCode=\([^&]*\).*/\1/p')')" >/dev/null
as_server "$ad_bindir/pg_basebackup" -D "$work/standby" -h "$work" -p 5611 -U postgres -R -X stream >/dev/null
sed -i "s/^port = 5611/port = 5612/" "$work/standby/postgresql.conf"
echo "cluster_name = 'standby'" >> "$work/standby/postgresql.conf"
as_server "$ad_bindir/pg_ctl" -D "$work/standby" -l "$work/standby.log" -w start >/dev/null

# run: N pays, one statement each; prints "mean median" in ms
run() {
	local tag=$1 journal=$2
	for i in $(seq "$total"); do
		echo "SELECT 1 FROM autodebit_pay('bench', '$tag-$i', 100, 'USD', 'bench');"
	done > "$work/$tag.sql"
	chmod 644 "$work/$tag.sql"
	as_server env PGOPTIONS="-c autodebit.journal=$journal" "$ad_bindir/psql" -X -q -h "$work" -p 5611 -U postgres \
		-d postgres -c '\timing on' -f "$work/$tag.sql" 2>/dev/null \
		| sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n \
		| awk '{ a[NR] = $1; s += $1 } END { printf "%.3f %.3f", s / NR, a[int((NR + 1) / 2)] }'
}
set_sync() {
	on 5611 -c "ALTER SYSTEM SET synchronous_standby_names = '$1'" >/dev/null
	on 5611 -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
}

set_sync standby
[ "$(on 5611 -c "SELECT sync_state FROM pg_stat_replication")" = sync ] || { echo "the standby is not synchronous" >&2; exit 1; }
run warmup on >/dev/null
sync_on=$(run sync-on on)
sync_off=$(run sync-off off)
set_sync ''
alone_on=$(run alone-on on)
alone_off=$(run alone-off off)

echo "One synchronous autodebit_pay(), $total per set-up, zero-latency sandbox (ms: mean, median):"
awk -v a="$sync_on" -v b="$sync_off" -v c="$alone_on" -v d="$alone_off" 'BEGIN {
	split(a, A, " "); split(b, B, " "); split(c, C, " "); split(d, D, " ");
	printf "  synchronous standby, journal on    %6.3f  %6.3f\n", A[1], A[2];
	printf "  synchronous standby, journal off   %6.3f  %6.3f   (not safe: attribution only)\n", B[1], B[2];
	printf "  no standby, journal on             %6.3f  %6.3f\n", C[1], C[2];
	printf "  no standby, journal off            %6.3f  %6.3f   (not safe: attribution only)\n", D[1], D[2];
	printf "  the journal record costs a pay     %6.3f ms (median) with the standby, %6.3f ms without\n", A[2] - B[2], C[2] - D[2];
}'
