# autodebit: a PostgreSQL extension (PGXS), its notification receiver and the sandbox acquirer.
#
#   make                       build the extension, notifyd/autodebit-notifyd and sandbox/autodebit-sandbox
#   make install               install the extension, and autodebit-notifyd next to PostgreSQL's programs
#   make install-sandbox       also install the test acquirer autodebit-sandbox there (only when asked)
#   make installcheck          the pg_regress suite against the installed extension (test/regress.sh
#                              starts a temporary instance, the sandbox and notifyd for it)
#   scripts/test.sh            every suite (sets up keys, the sandbox and temporary clusters)
#
# PG_CONFIG picks the PostgreSQL (make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config).

EXTENSION    = autodebit
EXTVERSION   = 0.2
MODULE_big   = autodebit
OBJS         = src/autodebit.o src/keys.o src/transport.o src/exchange.o src/vault.o \
               src/journal.o src/notification.o src/answer.o src/caller.o src/json.o common/antsig.o \
               common/antom_api.o
PGFILEDESC   = "autodebit - Antom Auto Debit from SQL"

# The install script is assembled from per-concern files, in this order.  The schema files run
# once, at CREATE EXTENSION; the replayable ones (CREATE OR REPLACE) also end every update
# script, after that update's schema changes (src/sql/updates/<from>--<to>.sql).
SQL_SCHEMA   = src/sql/00_schema.sql src/sql/01_reference.sql src/sql/02_tables.sql \
               src/sql/03_transitions.sql src/sql/06_events.sql
SQL_REPLAY   = src/sql/04_views.sql src/sql/05_guards.sql src/sql/10_primitives.sql \
               src/sql/11_checks.sql src/sql/12_exchange.sql src/sql/20_merchants.sql \
               src/sql/21_authorization.sql src/sql/22_pay.sql src/sql/30_lifecycle.sql \
               src/sql/31_reconcile.sql src/sql/32_notifications.sql src/sql/33_events.sql \
               src/sql/34_monitoring.sql \
               src/sql/40_rotation.sql \
               src/sql/50_schedules.sql src/sql/51_runner.sql src/sql/80_security.sql \
               src/sql/85_dump.sql src/sql/90_grants.sql src/sql/95_comments.sql
UPDATES      = 0.1--0.2
# schema files a version brings whole, included by its update script after its schema changes
NEW_SCHEMA_0.1--0.2 = src/sql/06_events.sql

DATA_built   = $(EXTENSION)--$(EXTVERSION).sql $(foreach u,$(UPDATES),$(EXTENSION)--$(u).sql)
DATA         = src/sql/updates/$(EXTENSION)--0.1.sql

PG_CONFIG   ?= pg_config
PG_CPPFLAGS  = -I$(srcdir)/common -DAUTODEBIT_VERSION='"$(EXTVERSION)"' \
               $(shell pkg-config --cflags libcurl openssl)
PG_CFLAGS    = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror=implicit-function-declaration
SHLIB_LINK   = $(shell pkg-config --libs libcurl openssl)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/autodebit.h common/antsig.h common/antom_api.h

# $(call sql_header,first comment line,command that loads it): the top of a built script
define sql_header
	printf '%s\n' '-- $(1)' '-- Built by the Makefile from src/sql/ (edit those files, not this one).' '' \
		'\echo Use "$(2)" to load this file. \quit' '' > $@
endef

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SCHEMA) $(SQL_REPLAY) Makefile
	$(call sql_header,autodebit $(EXTVERSION): Antom Auto Debit from SQL.,CREATE EXTENSION autodebit)
	for f in $(filter %.sql,$^); do cat $$f; echo; done >> $@

.SECONDEXPANSION:
$(EXTENSION)--%.sql: src/sql/updates/%.sql $$(NEW_SCHEMA_$$*) $(SQL_REPLAY) Makefile
	$(call sql_header,autodebit update $*: its schema changes and then every replayable file.,ALTER EXTENSION autodebit UPDATE)
	for f in $(filter %.sql,$^); do cat $$f; echo; done >> $@

all: $(DATA_built) sandbox-bin notifyd-bin

sandbox-bin:
	$(MAKE) -C sandbox

notifyd-bin:
	$(MAKE) -C notifyd

install: install-notifyd

install-notifyd: notifyd-bin
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) notifyd/autodebit-notifyd '$(DESTDIR)$(bindir)/autodebit-notifyd'

install-sandbox: sandbox-bin
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) sandbox/autodebit-sandbox '$(DESTDIR)$(bindir)/autodebit-sandbox'

# PGXS's installcheck needs a running server set up for us; ours starts what it needs.
installcheck: sandbox-bin notifyd-bin
	PG_CONFIG='$(PG_CONFIG)' $(srcdir)/test/regress.sh

clean: clean-programs

clean-programs:
	$(MAKE) -C sandbox clean
	$(MAKE) -C notifyd clean

.PHONY: sandbox-bin notifyd-bin install-notifyd install-sandbox clean-programs
