#!/usr/bin/env bash
# Set up (Debian packages, build) and run every test suite; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
make -s all

status=0
echo "== sandbox protocol test (requests signed by the openssl command line)"
test/sandbox/protocol.sh sandbox/autodebit-sandbox || status=1
exit $status
