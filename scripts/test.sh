#!/usr/bin/env bash
# Set up everything (Debian packages, build, install) and run every test suite:
#   1. the sandbox protocol test (requests signed by the openssl command line)
#   2. the extension's pg_regress suite on a temporary instance against the sandbox
#   3. the send journal under failover, point-in-time recovery, reinstall and 100,000 records
#   4. backups: pg_dump restored (pg_restore and plain) into a new cluster and database, then paying
#   5. upgrades: 0.1 filled and updated, compared with a new installation; the pg_regress suite
#      again on an extension updated from 0.1
#   6. the Debian packages: built with pg_buildext, installed, the seed flow run on them (as root)
#   7. the mini program in a browser: the sandbox's super-app simulator in headless chromium
#   8. the torture run: 300 orders under faults, kill -9 and a cluster crash, books compared
# Ends with one line "N passed, N failed" over all suites; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1
make -s all >/dev/null || { make all; exit 1; }
if [ "$(id -u)" -eq 0 ]; then
	make -s install >/dev/null || exit 1
fi

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Add a suite's closing "N passed, N failed" line (in $log) to the totals; no line is a failure.
count_suite() {
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [ -n "$line" ]; then
		passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
		failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
	else
		failed=$((failed + 1))
	fi
}

echo "== sandbox protocol test"
test/sandbox/protocol.sh sandbox/autodebit-sandbox | tee "$log"
count_suite

echo "== extension regression tests (pg_regress: make installcheck)"
make -s installcheck | tee "$log"
passed=$((passed + $(grep -cE '^(ok|test) .* \.\.\. ok' "$log")))
failed=$((failed + $(grep -cE '^(not ok|test) .* \.\.\. FAILED' "$log")))
grep -qE '(All [0-9]+ tests passed|tests passed)' "$log" || [ "$failed" -gt 0 ] || failed=$((failed + 1))

echo "== the send journal: failover to a synchronous standby, PITR, reinstall, 100,000 records (test/journal/run.sh)"
test/journal/run.sh | tee "$log"
count_suite

echo "== backups: pg_dump, pg_restore and a plain restore, then pay (test/restore/run.sh)"
test/restore/run.sh | tee "$log"
count_suite

echo "== upgrades: 0.1 filled, updated, compared with a new installation (test/upgrade/run.sh)"
test/upgrade/run.sh | tee "$log"
count_suite

echo "== the pg_regress suite on an extension updated from 0.1 (AUTODEBIT_FROM=0.1 test/regress.sh)"
AUTODEBIT_FROM=0.1 test/regress.sh | tee "$log"
passed=$((passed + $(grep -cE '^(ok|test) .* \.\.\. ok' "$log")))
failed=$((failed + $(grep -cE '^(not ok|test) .* \.\.\. FAILED' "$log")))
grep -qE '(All [0-9]+ tests passed|tests passed)' "$log" || [ "$failed" -gt 0 ] || failed=$((failed + 1))

echo "== the Debian packages: build, install, run the seed flow on them (test/package/run.sh)"
if [ "$(id -u)" -eq 0 ]; then
	test/package/run.sh | tee "$log"
	count_suite
	make -s install >/dev/null || exit 1		# the tree's build again, over the packages' files
else
	echo "skipped: dpkg -i needs root"
fi

echo "== the mini program in a browser: agree, decline, 7001, a refused site (test/browser/run.sh)"
test/browser/run.sh | tee "$log"
count_suite

echo "== torture: 300 orders, faults, kill -9 and a cluster crash (test/torture/run.sh)"
if test/torture/run.sh --orders 300 --seed "${TORTURE_SEED:-$(( $(date +%s) % 100000 ))}" | tee "$log"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
