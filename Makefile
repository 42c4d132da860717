# autodebit: top-level build.
#
#   make            build everything (today: the sandbox acquirer)
#   make install    install autodebit-sandbox next to PostgreSQL's binaries
#   make test       run the test suites (scripts/test.sh also installs dependencies)
#
# The extension itself (PGXS) joins this Makefile with issue 3.

PG_CONFIG ?= pg_config
BINDIR    ?= $(shell $(PG_CONFIG) --bindir 2>/dev/null || echo /usr/local/bin)

all: sandbox

sandbox:
	$(MAKE) -C sandbox

install: sandbox
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 sandbox/autodebit-sandbox $(DESTDIR)$(BINDIR)/autodebit-sandbox

test: sandbox
	test/sandbox/protocol.sh sandbox/autodebit-sandbox

clean:
	$(MAKE) -C sandbox clean

.PHONY: all sandbox install test clean
