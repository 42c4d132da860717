#!/usr/bin/env bash
# Packaging (issue 11): make install DESTDIR= stages everything and the test acquirer only when
# asked; dpkg-buildpackage (pg_buildext) builds postgresql-15-autodebit and autodebit-tools from a
# copy of this tree; each holds what it should; they install; and the seed flow (scripts/demo.sh)
# runs on a new cluster with only what the packages installed, under a locale the machine lacks.
# Needs root (dpkg -i).  Each check prints "ok N - ..."; the last line is "N passed, N failed".
#
#   test/package/run.sh
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/autodebit-package.XXXXXX)
. "$repo/scripts/lib.sh"
trap 'if [ $failed -ne 0 ]; then echo "package: kept $work" >&2; else rm -rf "$work"; fi' EXIT
holds() { dpkg -c "$1" | awk '{print $6}' | grep -qx "./$2"; }
lacks() { ! holds "$@"; }

stage=$work/stage
pkglib=$(${PG_CONFIG:-pg_config} --pkglibdir); share=$(${PG_CONFIG:-pg_config} --sharedir); bin=$(${PG_CONFIG:-pg_config} --bindir)
make -s -C "$repo" install DESTDIR="$stage" > "$work/stage.log" 2>&1
check "make install DESTDIR= stages the library, the control file and every script" \
	test -f "$stage$pkglib/autodebit.so" -a -f "$stage$share/extension/autodebit.control" \
		-a -f "$stage$share/extension/autodebit--0.1.sql" -a -n "$(ls "$stage$share"/extension/autodebit--*--*.sql 2>/dev/null)"
check "...and autodebit-notifyd, but not the test acquirer" test -x "$stage$bin/autodebit-notifyd" -a ! -e "$stage$bin/autodebit-sandbox"
make -s -C "$repo" install-sandbox DESTDIR="$stage" > /dev/null 2>&1
check "make install-sandbox adds it" test -x "$stage$bin/autodebit-sandbox"

git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && tar --null -T - -cf -) | (mkdir -p "$work/autodebit" && tar -xf - -C "$work/autodebit")
(cd "$work/autodebit" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1
check "dpkg-buildpackage builds the packages" test -n "$(ls "$work"/postgresql-15-autodebit_*.deb "$work"/autodebit-tools_*.deb 2>/dev/null)"
ext=$(ls "$work"/postgresql-15-autodebit_*.deb 2>/dev/null | grep -v dbgsym | head -1)
tools=$(ls "$work"/autodebit-tools_*.deb 2>/dev/null | grep -v dbgsym | head -1)
[ -n "$ext" ] && [ -n "$tools" ] || { tail -20 "$work/build.log" >&2; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$repo/autodebit.control")
check "postgresql-15-autodebit holds the library, the control file and every script" \
	eval "holds $ext usr/lib/postgresql/15/lib/autodebit.so && holds $ext usr/share/postgresql/15/extension/autodebit.control &&
		  holds $ext usr/share/postgresql/15/extension/autodebit--$version.sql &&
		  holds $ext usr/share/postgresql/15/extension/autodebit--0.1.sql &&
		  holds $ext usr/share/postgresql/15/extension/autodebit--0.1--$version.sql"
check "...and no program" eval "lacks $ext usr/lib/postgresql/15/bin/autodebit-notifyd && lacks $ext usr/lib/postgresql/15/bin/autodebit-sandbox"
check "autodebit-tools holds autodebit-notifyd and autodebit-sandbox" \
	eval "holds $tools usr/bin/autodebit-notifyd && holds $tools usr/bin/autodebit-sandbox"
check "...and the sandbox's super-app simulator page" \
	eval "holds $tools usr/share/autodebit-tools/superapp/index.html && holds $tools usr/share/autodebit-tools/superapp/superapp.js"
dpkg -i "$ext" "$tools" > "$work/install.log" 2>&1
check "both install with dpkg -i" test "$(dpkg-query -W -f='${Status}\n' postgresql-15-autodebit autodebit-tools | grep -c 'install ok installed')" = 2
LANG=en_US.UTF-8 LC_ALL= AUTODEBIT_INSTALLED=1 "$repo/scripts/demo.sh" > "$work/demo.log" 2>&1
check "the seed flow runs on the installed packages (scripts/demo.sh, AUTODEBIT_INSTALLED=1, LANG=en_US.UTF-8)" test $? -eq 0
check "...printing no NOTICE about pg_temp and no 'could not change directory'" \
	test "$(grep -c 'pg_temp\|could not change directory' "$work/demo.log")" = 0
check "...and its first pay succeeds" grep -qE "invoice-2026-11 +\| +29900 +\| +PHP +\| +SUCCESS" "$work/demo.log"
checks_summary
