# autodebit: a PostgreSQL extension (PGXS) plus the sandbox acquirer.
#
#   make                 build the extension, sandbox/autodebit-sandbox and notifyd/autodebit-notifyd
#   make install         install them (the programs go next to PostgreSQL's binaries)
#   scripts/test.sh      the whole test suite (sets up keys, the sandbox and a temporary cluster)

EXTENSION    = autodebit
EXTVERSION   = 0.1
MODULE_big   = autodebit
OBJS         = src/autodebit.o src/keys.o src/transport.o src/exchange.o src/vault.o \
               src/journal.o src/notification.o src/answer.o src/caller.o common/antsig.o
DATA         = autodebit--$(EXTVERSION).sql
PGFILEDESC   = "autodebit - Antom Auto Debit from SQL"

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=autodebit

PG_CONFIG   ?= pg_config
PG_CPPFLAGS  = -I$(srcdir)/common -DAUTODEBIT_VERSION='"$(EXTVERSION)"' \
               $(shell pkg-config --cflags libcurl openssl)
PG_CFLAGS    = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror=implicit-function-declaration
SHLIB_LINK   = $(shell pkg-config --libs libcurl openssl)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/autodebit.h common/antsig.h

all: sandbox-bin notifyd-bin

sandbox-bin:
	$(MAKE) -C sandbox

notifyd-bin:
	$(MAKE) -C notifyd

install: install-programs

install-programs: sandbox-bin notifyd-bin
	$(INSTALL_PROGRAM) sandbox/autodebit-sandbox '$(DESTDIR)$(bindir)/autodebit-sandbox'
	$(INSTALL_PROGRAM) notifyd/autodebit-notifyd '$(DESTDIR)$(bindir)/autodebit-notifyd'

clean: clean-programs

clean-programs:
	$(MAKE) -C sandbox clean
	$(MAKE) -C notifyd clean

.PHONY: sandbox-bin notifyd-bin install-programs clean-programs
