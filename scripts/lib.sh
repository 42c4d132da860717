# Shared shell functions for the demo, the tests and the benchmarks: keys, the sandbox
# acquirer, a private PostgreSQL cluster, the suites' checks.  Source it; it defines functions
# (and the checks' three counters).
#
# Each function works in the directory $work (set by the caller) and, as root, runs the
# PostgreSQL server as the unprivileged "postgres" user (PostgreSQL refuses root).

ad_bindir=$(${PG_CONFIG:-pg_config} --bindir 2>/dev/null || true)

# Every cluster here is UTF-8 with the C locale, whatever the caller's LANG or LC_ALL (initdb
# fails on a locale the machine does not have, and the suite's expected output is in C order).
ad_initdb_flags="-E UTF8 --locale=C -A trust -U postgres"

# (from / : a command run as the server user must not start in a directory it cannot enter)
if [ "$(id -u)" -eq 0 ]; then
	as_server() { (cd / && runuser -u postgres -- "$@"); }
	server_user=postgres
else
	as_server() { "$@"; }
	server_user=$(id -un)
fi

# The shell suites' checks: check "what" test-command... prints "ok N - what" or "not ok N -
# what" and counts; eq GOT WANT compares (and says what it got); checks_summary prints the
# closing "N passed, N failed" line scripts/test.sh adds up, and fails if any check did.
passed=0
failed=0
n=0
check() {
	local what=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $what"; passed=$((passed + 1)); else echo "not ok $n - $what"; failed=$((failed + 1)); fi
}
eq() { [ "$1" = "$2" ] || { echo "#   got '$1', expected '$2'" >&2; return 1; }; }
checks_summary() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# For a benchmark: make $work (a fresh directory under /tmp that the server user can enter) and,
# when the script exits, stop what it started and remove $work (KEEP=1 keeps it).
bench_work() {
	work=$(mktemp -d "/tmp/autodebit-$1.XXXXXX")
	chmod 755 "$work"
	trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
}

# A TCP port nothing listens on yet, below the kernel's ephemeral range (32768 and up on Linux),
# so a program listening on port 0 meanwhile cannot be handed the same one.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 12000))
		[ -z "$(ss -Htln "( sport = :$port )")" ] && echo "$port" && return
	done
}

# Make $work/keys (merchant.pem, data-1.key: the server's) and $work/acquirer
# (merchant.pub for the sandbox, sandbox.pem/.pub: the acquirer's pair).
make_keys() {
	mkdir -p "$work/keys" "$work/acquirer"
	openssl genrsa -out "$work/keys/merchant.pem" 2048 2>/dev/null
	openssl rsa -in "$work/keys/merchant.pem" -pubout -out "$work/acquirer/merchant.pub" 2>/dev/null
	openssl genrsa -out "$work/acquirer/sandbox.pem" 2048 2>/dev/null
	openssl rsa -in "$work/acquirer/sandbox.pem" -pubout -out "$work/acquirer/sandbox.pub" 2>/dev/null
	openssl rand -hex 32 > "$work/keys/data-1.key"
	chmod 600 "$work/keys"/*
}

# The acquirer public key as one line of bare base64.
acquirer_key_b64() {
	grep -v -- ----- "$work/acquirer/sandbox.pub" | tr -d '\n'
}

# Start a sandbox on a free loopback port with extra flags; sets gateway (its URL), sandbox_port
# and sandbox_pid, and adds the pid to sandbox_pids.  Output goes to $work/${sandbox_name}.out|.log.
# The keys are make_keys's unless the flags name --merchant-public-key / --private-key.  The one
# way every script here starts a sandbox (${sandbox_bin} picks the binary).
start_sandbox() {
	local name=${sandbox_name:-sandbox} keys=()
	case " $* " in *" --merchant-public-key "*) ;; *) keys+=(--merchant-public-key "$work/acquirer/merchant.pub") ;; esac
	case " $* " in *" --private-key "*) ;; *) keys+=(--private-key "$work/acquirer/sandbox.pem") ;; esac
	"${sandbox_bin:-sandbox/autodebit-sandbox}" --listen 127.0.0.1:0 "${keys[@]}" "$@" \
		> "$work/$name.out" 2> "$work/$name.log" &
	sandbox_pid=$!
	sandbox_pids="${sandbox_pids:-} $sandbox_pid"
	for _ in $(seq 100); do
		grep -q listening "$work/$name.out" 2>/dev/null && break
		kill -0 "$sandbox_pid" 2>/dev/null || break
		sleep 0.1
	done
	gateway=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/$name.out")
	sandbox_port=${gateway##*:}
	if [ -z "$gateway" ]; then
		echo "the sandbox did not start:" >&2
		head -c 300 "$work/$name.log" >&2
		return 1
	fi
}

# initdb and start a private cluster in $work/data on a Unix socket in $work, with
# autodebit.key_directory = $work/keys and any extra settings given as arguments.
start_cluster() {
	chown -R "$server_user" "$work"
	as_server "$ad_bindir/initdb" -D "$work/data" $ad_initdb_flags >/dev/null
	{
		echo "listen_addresses = ''"
		echo "port = ${cluster_port:-5499}"
		echo "unix_socket_directories = '$work'"
		echo "autodebit.key_directory = '$work/keys'"
		for setting in "$@"; do echo "$setting"; done
	} >> "$work/data/postgresql.conf"
	as_server "$ad_bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
}

# psql against the private cluster.
cluster_psql() {
	as_server "$ad_bindir/psql" -X -h "$work" -p "${cluster_port:-5499}" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 "$@"
}

# In the private cluster: CREATE EXTENSION, register merchant $1 against the sandbox, and have
# customer $2 agree on the consent page and get an agreement (for the benchmarks).
authorize_customer() {
	local client=$1 customer=$2 url redirect state code
	cluster_psql -At -c "CREATE EXTENSION IF NOT EXISTS autodebit" >/dev/null
	cluster_psql -At -c "SELECT 1 FROM autodebit_merchant_set('$client', '$gateway', 'merchant.pem', '$(acquirer_key_b64)', app_id => 'BENCH')" >/dev/null
	url=$(cluster_psql -At -c "SELECT auth_url FROM autodebit_consult('$customer', 'GCASH', 'https://bench.example/done')")
	redirect=$(curl -s -o /dev/null -w '%{redirect_url}' "$url&decision=agree&user=$customer-wallet")
	state=$(echo "$redirect" | sed -n 's/.*authState=\([^&]*\).*/\1/p')
	code=$(echo "$redirect" | sed -n 's/.*authCode=\([^&]*\).*/\1/p')
	cluster_psql -At -c "SELECT status FROM autodebit_apply_token('$state', '$code')" >/dev/null
}

# Start the mini program's merchant backend (examples/mini-program/server.py, Debian's python3
# and python3-psycopg2) on a free loopback port against the private cluster, answering CORS for
# the sandbox's simulator page; sets backend (its URL).  merchant.sql must be loaded.
start_merchant_backend() {
	local port
	port=$(free_port)
	/usr/bin/python3 "${mini_program_dir:-examples/mini-program}/server.py" --listen "127.0.0.1:$port" \
		--dsn "host=$work port=${cluster_port:-5499} user=postgres dbname=postgres" \
		--allow-origin "${gateway%/}" > "$work/merchant.out" 2> "$work/merchant.log" &
	helper_pids="${helper_pids:-} $!"
	for _ in $(seq 100); do
		grep -q listening "$work/merchant.out" 2>/dev/null && break
		sleep 0.1
	done
	backend=http://127.0.0.1:$port
	grep -q listening "$work/merchant.out" || { echo "the merchant backend did not start:" >&2; cat "$work/merchant.log" >&2; return 1; }
}

# Stop what start_sandbox, start_merchant_backend and start_cluster started.
stop_all() {
	for pid in ${sandbox_pids:-} ${helper_pids:-}; do kill "$pid" 2>/dev/null; done
	if [ -f "$work/data/postmaster.pid" ]; then
		as_server "$ad_bindir/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1
	fi
	return 0
}
