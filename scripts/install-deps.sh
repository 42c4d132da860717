#!/usr/bin/env bash
# Install the Debian 12 packages autodebit needs to build, test, demo and benchmark.
# Safe to run again: packages already present are not touched.
set -euo pipefail

packages=(
	build-essential pkg-config ca-certificates curl jq openssl
	postgresql-15 postgresql-server-dev-15  # the server (initdb, pg_regress) and PGXS headers
	libpq-dev iproute2                      # notifyd: libpq; tests: ss
	postgresql-15-cron                      # pg_cron 1.4: runs autodebit_run() every minute
	libssl-dev libcurl4-openssl-dev         # the extension and the sandbox: TLS, HTTP
	libmicrohttpd-dev libjansson-dev        # the sandbox acquirer: HTTP server, JSON
	wrk                                     # bench/: load generator
	debhelper fakeroot postgresql-server-dev-all  # debian/: the packages (pg_buildext)
	python3 python3-psycopg2 python3-cryptography  # the mini program's backend; bench/'s peer
	chromium nodejs                         # test/browser: headless chromium, playwright-core
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's nodejs comes without npm (NodeSource's has it)
command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends npm >/dev/null
