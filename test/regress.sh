#!/usr/bin/env bash
# Run the extension's pg_regress suite (sql/ + expected/) on a temporary PostgreSQL
# instance, against a sandbox acquirer started for the run.
#
#   test/regress.sh [test ...]      (default: every sql/*.sql, in order)
#   AUTODEBIT_FROM=0.1 test/regress.sh
#                                   the same on an extension created at version 0.1 and then
#                                   updated (ALTER EXTENSION autodebit UPDATE) before the suite
#
# Needs: the extension installed (make install), sandbox/autodebit-sandbox built.
# PostgreSQL refuses to run as root, so as root the server runs as the "postgres" user.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
pg_config=${PG_CONFIG:-pg_config}
bindir=$($pg_config --bindir)
pg_regress=$($pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress
sandbox_bin=$repo/sandbox/autodebit-sandbox

work=$(mktemp -d /tmp/autodebit-regress.XXXXXX)
chmod 755 "$work"
. "$repo/scripts/lib.sh"
cleanup() {
	stop_all
	if [ "${status:-1}" -eq 0 ]; then rm -rf "$work"; else echo "regress: kept $work for inspection" >&2; fi
}
trap cleanup EXIT

# Keys: one merchant key pair in four encodings, the sandbox's pair, a token data key.
keys=$work/keys
mkdir -p "$keys" "$work/acquirer" "$work/log"
openssl genrsa -traditional -out "$keys/merchant-pkcs1.pem" 2048 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$keys/merchant-pkcs1.pem" -out "$keys/merchant-pkcs8.pem"
openssl rsa -in "$keys/merchant-pkcs1.pem" -outform DER -traditional 2>/dev/null | base64 -w0 > "$keys/merchant-pkcs1.b64"
openssl pkcs8 -topk8 -nocrypt -in "$keys/merchant-pkcs1.pem" -outform DER | base64 -w0 > "$keys/merchant-pkcs8.b64"
openssl rsa -in "$keys/merchant-pkcs1.pem" -pubout -out "$work/acquirer/merchant.pub" 2>/dev/null
echo "this is not a key" > "$keys/not-a-key.pem"
cp "$keys/merchant-pkcs8.pem" "$keys/world-readable.pem"
openssl rand -hex 32 > "$keys/data-1.key"
openssl genrsa -out "$work/acquirer/sandbox.pem" 2048 2>/dev/null
openssl rsa -in "$work/acquirer/sandbox.pem" -pubout -out "$work/acquirer/sandbox.pub" 2>/dev/null
chmod 600 "$keys"/*
chmod 644 "$keys/world-readable.pem" "$work/acquirer"/*
chown -R "$server_user" "$work"
chmod 700 "$keys"

# The sandbox acquirer on a free loopback port, and a second one serving HTTPS with a
# self-signed certificate (for the TLS verification test).
start_sandbox --settle-ms 500 --seed 7 --verbose --notify-speedup 600
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/acquirer/tls.key" -out "$work/acquirer/tls.crt" \
	-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
chmod 644 "$work/acquirer/tls.crt"
plain_gateway=$gateway
sandbox_name=sandbox-tls start_sandbox --tls-cert "$work/acquirer/tls.crt" --tls-key "$work/acquirer/tls.key"
tls_gateway=$gateway
# and one whose tokens live seconds, for expiry and refresh
sandbox_name=sandbox-short start_sandbox --token-ttl 3 --refresh-token-ttl 8
short_gateway=$gateway
# and one whose merchant settles in two currencies (pay must name one)
sandbox_name=sandbox-settle start_sandbox --settlement-currencies USD,SGD
settle_gateway=$gateway
gateway=$plain_gateway

# The temporary instance listens on 127.0.0.1:$pg_port; the notification receiver, started
# first, connects to it when it is up (and again after any restart), as the plain role
# "notifyd" (a member of autodebit_notify only) that sql/00_setup creates.
pg_port=$(free_port)
"$repo/notifyd/autodebit-notifyd" --listen 127.0.0.1:0 --path-prefix /notify/ \
	--db "host=127.0.0.1 port=$pg_port dbname=regression user=notifyd connect_timeout=5" \
	> "$work/notifyd.out" 2> "$work/notifyd.log" &
notifyd_pid=$!
sandbox_pids="$sandbox_pids $notifyd_pid"
for _ in $(seq 50); do grep -q listening "$work/notifyd.out" 2>/dev/null && break; sleep 0.1; done
notify_url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/notifyd.out")
[ -n "$notify_url" ] || { echo "regress: autodebit-notifyd did not start" >&2; cat "$work/notifyd.log" >&2; exit 1; }

# Server settings for the temporary instance; autodebit_test.* hand facts to the tests.
cat > "$work/regress.conf" <<EOF
autodebit.key_directory = '$keys'
logging_collector = on
log_directory = '$work/log'
log_filename = 'postgresql.log'
log_statement = 'all'
log_min_error_statement = 'error'
max_connections = 40
shared_preload_libraries = 'pg_cron'
cron.database_name = 'regression'
cron.use_background_workers = on
max_worker_processes = 16
autodebit_test.gateway = '$gateway'
autodebit_test.notify_url = '$notify_url'
autodebit_test.notifyd_log = '$work/notifyd.log'
autodebit_test.sandbox_key_file = '$work/acquirer/sandbox.pem'
autodebit_test.tls_gateway = '$tls_gateway'
autodebit_test.short_gateway = '$short_gateway'
autodebit_test.settle_gateway = '$settle_gateway'
autodebit_test.tls_ca_file = '$work/acquirer/tls.crt'
autodebit_test.acquirer_key_b64 = '$(acquirer_key_b64)'
autodebit_test.acquirer_key_pem_file = '$work/acquirer/sandbox.pub'
autodebit_test.log_file = '$work/log/postgresql.log'
autodebit_test.bindir = '$bindir'
autodebit_test.repo = '$repo'
EOF

mkdir -p "$work/in" "$work/out"
cp -r "$repo/sql" "$repo/expected" "$work/in/"
chown -R "$server_user" "$work/in" "$work/out" "$work/regress.conf"

if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=()
	for f in "$repo"/sql/*.sql; do tests+=("$(basename "$f" .sql)"); done
fi

load=(--load-extension=autodebit)
if [ -n "${AUTODEBIT_FROM:-}" ]; then
	# the suite's first file creates the old version and updates it
	load=()
	from_test=00_from_${AUTODEBIT_FROM//./_}
	from_sql="SET client_min_messages = warning;
CREATE EXTENSION autodebit VERSION '$AUTODEBIT_FROM';
ALTER EXTENSION autodebit UPDATE;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'autodebit';"
	printf '%s\n' "$from_sql" > "$work/in/sql/$from_test.sql"
	{ printf '%s\n' "$from_sql" | head -4
	  printf 'SELECT extversion FROM pg_extension WHERE extname = '"'"'autodebit'"'"';\n extversion \n------------\n %s\n(1 row)\n\n' \
		"$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$repo/autodebit.control")"
	} > "$work/in/expected/$from_test.out"
	chown "$server_user" "$work/in/sql/$from_test.sql" "$work/in/expected/$from_test.out"
	tests=("$from_test" "${tests[@]}")
fi

status=0
as_server "$pg_regress" --inputdir="$work/in" --outputdir="$work/out" \
	--temp-instance="$work/out/tmp_check" --temp-config="$work/regress.conf" \
	--bindir="$bindir" --host=127.0.0.1 --port="$pg_port" --encoding=UTF8 --no-locale \
	"${load[@]}" --load-extension=dblink \
	"${tests[@]}" || status=$?

if [ $status -ne 0 ]; then
	[ -f "$work/out/regression.diffs" ] && cat "$work/out/regression.diffs"
	mkdir -p "$repo/results" && cp -r "$work/out/results/." "$repo/results/" 2>/dev/null || true
	echo "regress: results copied to results/; sandbox log: $work/sandbox.log" >&2
fi
exit $status
