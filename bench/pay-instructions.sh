#!/usr/bin/env bash
# Instructions per synchronous autodebit_pay(), counted by callgrind in a warm backend: a count
# that does not move with the VM's speed, so a change of a few percent in the pay path can be
# seen at all (wall-time runs here vary by +-20% from one minute to the next).
#
# The server runs under valgrind --tool=callgrind; the sandbox runs natively.  One pgbench
# connection makes W pays, another W + N; the difference over N is a warm pay (session caches,
# plans and the extension's loading cancel out).  Split: the C exchange (sign, journal, send,
# verify, classify) and everything else (SQL, PL/pgSQL, triggers, commit).  The yardstick, made
# the same way on the same server: a minimal INSERT + UPDATE + COMMIT of one row.
#
# Under valgrind OpenSSL takes its generic code paths (no AVX-512), so the signature's share is
# larger than on the CPU; compare the SQL part with the yardstick, and a change with its parent.
#
#   bench/pay-instructions.sh [pays (50)]          SETUP=file.sql runs file.sql before counting
#
# Needs root (initdb as the server user) and valgrind; installs nothing (make install first).
set -euo pipefail
cd "$(dirname "$0")/.."
pays=${1:-50}
warm=20
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

. scripts/lib.sh
bench_work instr

make_keys
start_sandbox --default-balance 1000000000000
cluster_port=$(free_port)
start_cluster "shared_buffers = '128MB'" "max_connections = 20" "autovacuum = off"
sql() { cluster_psql -At -c "$1"; }
authorize_customer SANDBOX_BENCH bench-1 2>/dev/null
sql "CREATE SEQUENCE bench_orders; CREATE TABLE mini (id bigint PRIMARY KEY, v integer)" >/dev/null
echo "SELECT status FROM autodebit_pay('bench-1', 'o-' || nextval('bench_orders'), 100, 'USD', 'bench');" > "$work/pay.sql"
printf '%s\n' '\set id random(1, 1000000000000)' 'BEGIN;' 'INSERT INTO mini VALUES (:id, 1);' \
	'UPDATE mini SET v = 2 WHERE id = :id;' 'COMMIT;' > "$work/mini.sql"
chown "$server_user" "$work"/*.sql
# SETUP=file.sql: run it first (an experiment: a changed function, a dropped trigger, ...)
[ -z "${SETUP:-}" ] || cluster_psql -q -f "$SETUP" >/dev/null

# the same server, now under callgrind: every process it forks writes cg/cg.<pid> when it exits
as_server "$ad_bindir/pg_ctl" -D "$work/data" -m fast stop >/dev/null
mkdir "$work/cg"
chown "$server_user" "$work/cg"
(cd / && runuser -u "$server_user" -- valgrind --tool=callgrind --trace-children=yes \
	--callgrind-out-file="$work/cg/cg.%p" "$ad_bindir/postgres" -D "$work/data" > "$work/valgrind.log" 2>&1) &
for _ in $(seq 240); do
	as_server "$ad_bindir/pg_isready" -q -h "$work" -p "$cluster_port" && break
	sleep 0.5
done

# Run pgbench once (script $1, $2 transactions) and print the callgrind file of its backend.
counted() {
	local before after file
	before=$(ls "$work/cg")
	as_server "$ad_bindir/pgbench" -n -h "$work" -p "$cluster_port" -U postgres -c 1 -t "$2" -f "$work/$1" postgres \
		> "$work/pgbench.out" 2>&1
	grep -q "actually processed: $2/$2" "$work/pgbench.out" || { cat "$work/pgbench.out" >&2; exit 1; }
	sleep 1								# a backend writes its file as it exits
	after=$(ls "$work/cg")
	# pgbench's own first connection is a backend too: the client's is the larger new file
	for file in $(comm -13 <(echo "$before") <(echo "$after")); do
		echo "$(sed -n 's/^summary: //p' "$work/cg/$file") $work/cg/$file"
	done | sort -n | tail -1 | cut -d' ' -f2
}
pay_a=$(counted pay.sql "$warm")
pay_b=$(counted pay.sql $((warm + pays)))
mini_a=$(counted mini.sql "$warm")
mini_b=$(counted mini.sql $((warm + pays)))

# Inclusive instructions of each function in a callgrind file, as "count<TAB>name" in file.inc
# (annotated once per file: every figure below reads it).
for f in "$pay_a" "$pay_b" "$mini_a" "$mini_b"; do
	callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
		awk '/^ *[0-9,]+ \(/ { v = $1; gsub(",", "", v); line = $0
			sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line); sub(/ \[.*\]$/, "", line); print v "\t" line }' > "$f.inc"
done
# Per-pay instructions of function $3 between files $1 and $2 ("PROGRAM TOTALS" for all).
per_pay() {
	local a b
	a=$(awk -F'\t' -v f="$3" '$2 == f || $2 ~ ":" f "$" {print $1; exit}' "$1.inc")
	b=$(awk -F'\t' -v f="$3" '$2 == f || $2 ~ ":" f "$" {print $1; exit}' "$2.inc")
	awk -v a="${a:-0}" -v b="${b:-0}" -v n="$pays" 'BEGIN {printf "%.0f", (b - a) / n}'
}
total=$(per_pay "$pay_a" "$pay_b" "PROGRAM TOTALS")
exchange=$(per_pay "$pay_a" "$pay_b" autodebit_exchange)
mini=$(per_pay "$mini_a" "$mini_b" "PROGRAM TOTALS")
m() { awk -v x="$1" 'BEGIN {printf "%6.2f M", x / 1e6}'; }

echo "Instructions per synchronous autodebit_pay() (callgrind, a warm backend, $pays pays):"
echo "  all                          $(m "$total")"
echo "  the C exchange               $(m "$exchange")"
for f in exchange_sign journal_append transport_post_many antsig_verify exchange_classify; do
	printf "    %-26s %s\n" "$f" "$(m "$(per_pay "$pay_a" "$pay_b" "$f")")"
done
rest=$((total - exchange))
echo "  everything else              $(m "$rest")  (SQL, PL/pgSQL, triggers, commit)"
for f in AfterTriggerEndQuery ExecConstraints ProcessGUCArray AtEOXact_GUC CommitTransactionCommand pg_plan_queries; do
	printf "    %-26s %s\n" "$f" "$(m "$(per_pay "$pay_a" "$pay_b" "$f")")"
done
echo "A minimal INSERT + UPDATE + COMMIT of one row, the same way: $(m "$mini")"
awk -v r="$rest" -v y="$mini" 'BEGIN {printf "  everything else is %.1fx that\n", r / y}'
