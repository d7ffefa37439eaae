# sbc — top-level GNU Makefile (non-recursive: each component adds its own module.mk).
#
# Targets:  all (default), test, unit, itest, bench, run, deps, install, clean, help
# Knobs:
#   SAN=1        ASan + UBSan build (into build-san/ unless BUILDDIR is set)
#   DEBUG=1      -O0, no fortify
#   BUILDDIR=dir output directory (default build/ or build-san/)
#   PREFIX=/usr/local DESTDIR=  for make install
#   V=1          echo full compiler command lines
#   ERR=0        do not turn warnings into errors (default ERR=1)
#   PYTEST_ARGS= extra arguments for the integration tests (e.g. -k tls)
#   TESTS=       run only the unit tests whose names match this shell glob
#   CC=          compiler (default cc)
#   BORINGSSL=rebuilt  link Debian's BoringSSL source rebuilt without OPENSSL_SMALL
#                (faster handshakes; see README.md); default BORINGSSL=debian

SAN     ?= 0
DEBUG   ?= 0
ERR     ?= 1
V       ?= 0
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
ifeq ($(SAN),1)
BUILDDIR ?= build-san
else
BUILDDIR ?= build
endif
B := $(BUILDDIR)

ifeq ($(V),1)
Q :=
else
Q := @
endif

# --- dependencies --------------------------------------------------------------
# Debian packages needed to build and test; `make deps` installs what is missing.
DEB_BUILD_PKGS := build-essential pkg-config android-libboringssl-dev libuv1-dev \
	liblmdb-dev libsrtp2-dev libjansson-dev libc-ares-dev liburing-dev libbpf-dev \
	libxdp-dev clang llvm
DEB_TEST_PKGS  := libcmocka-dev python3 python3-pytest python3-pytest-xdist sip-tester stunnel4 openssl \
	lmdb-utils procps iproute2 psmisc
DEB_BENCH_PKGS := kamailio kamailio-tls-modules rtpengine-daemon
DEB_PKGS := $(DEB_BUILD_PKGS) $(DEB_TEST_PKGS)

# BORINGSSL=debian (default): Debian's android-libboringssl as installed.
# BORINGSSL=rebuilt: Debian's own source package of it rebuilt without
#   -DOPENSSL_SMALL (x86_64 P-256 assembly and X25519 tables back in; see
#   README.md), by tools/boringssl-rebuild.sh into BORINGSSL_DIR (fetched and
#   built once); our binaries get its headers and an rpath to it. Compiler
#   flags of the rebuild: BORINGSSL_CC=gcc BORINGSSL_OPT=-O3 (BORINGSSL_MARCH=,
#   BORINGSSL_LTO=1, BORINGSSL_PGO=generate|use:DIR; see the script and
#   README.md; use a BORINGSSL_DIR of its own).
BORINGSSL ?= debian
BORINGSSL_INC := /usr/include/android
BORINGSSL_LIB := /usr/lib/x86_64-linux-gnu/android
ifeq ($(BORINGSSL),rebuilt)
BORINGSSL_DIR ?= $(B)/boringssl
BORINGSSL_INC := $(abspath $(BORINGSSL_DIR))/include
BORINGSSL_LIB := $(abspath $(BORINGSSL_DIR))/lib
# A missing included makefile is made before anything else (then make
# restarts): the library exists before the first object is compiled.
ifeq ($(filter clean help deps bench-deps,$(MAKECMDGOALS)),)
include $(BORINGSSL_DIR)/boringssl.mk
endif
$(BORINGSSL_DIR)/boringssl.mk:
	@tools/boringssl-rebuild.sh $(BORINGSSL_DIR)
else ifneq ($(BORINGSSL),debian)
$(error BORINGSSL=$(BORINGSSL): use debian or rebuilt)
endif
BORINGSSL_CFLAGS := -I$(BORINGSSL_INC)
BORINGSSL_LIBS := -L$(BORINGSSL_LIB) -Wl,-rpath,$(BORINGSSL_LIB) -lssl -lcrypto

pc = $(shell pkg-config --$(1) $(2) 2>/dev/null)

# --- flags ---------------------------------------------------------------------
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter -Wformat=2 -Wvla
ifeq ($(ERR),1)
WARN += -Werror
endif
HARDEN := -fstack-protector-strong -fPIE
OPT := -O2 -g
ifeq ($(DEBUG),1)
OPT := -O0 -g
else ifeq ($(SAN),1)
OPT := -O1 -g
else
HARDEN += -D_FORTIFY_SOURCE=2
endif
SANFLAGS :=
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# A sanitizer report fails the process (and so the test) instead of scrolling by.
export ASAN_OPTIONS ?= halt_on_error=1:detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1:exitcode=87
endif

CFLAGS_BASE := -std=gnu11 $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) -pthread -MMD -MP \
	-D_GNU_SOURCE -Ishared/include
LDFLAGS_BASE := -pie -Wl,-z,relro,-z,now -Wl,--as-needed -pthread $(SANFLAGS)

# Every object is built with CFLAGS_BASE plus its component's extra flags.
COMPILE = $(Q)mkdir -p $(dir $@) && echo "  CC   $<" && \
	$(CC) $(CFLAGS_BASE) $(EXTRA_CFLAGS) $(CFLAGS) -c -o $@ $<
LINK = $(Q)mkdir -p $(dir $@) && echo "  LD   $@" && \
	$(CC) -o $@ $(filter %.o %.a,$^) $(LDFLAGS_BASE) $(LDFLAGS) $(EXTRA_LIBS)

.DEFAULT_GOAL := all
# Every .c under the tree compiles to $(B)/obj/<same path>.o; components add
# their flags with pattern-specific EXTRA_CFLAGS in their module.mk.
$(B)/obj/%.o: %.c
	$(COMPILE)

BINS :=
UNIT_TESTS :=
BENCHES :=
BENCH_TOOLS :=

include shared/module.mk
include sbc-control/module.mk
include sbc-signal/module.mk
include sbc-media/module.mk
include tests/module.mk

-include $(shell find $(B) -name '*.d' 2>/dev/null)

.PHONY: all test unit itest bench run deps bench-deps install clean help check-linkage

all: $(BINS)

deps:
	@tools/deps.sh $(DEB_PKGS)

bench-deps: deps
	@tools/deps.sh $(DEB_BENCH_PKGS)

unit: all $(UNIT_TESTS)
	@tools/run-unit.sh "$(B)" $(if $(TESTS),"$(TESTS)")

itest: all
	@SBC_BUILD="$(abspath $(B))" tools/run-pytest.sh $(PYTEST_ARGS)

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_TESTS)
	@$(MAKE) --no-print-directory check-linkage
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory itest

# A binary that links BoringSSL must never also pull in OpenSSL's libssl/libcrypto.
check-linkage: all
	@BORINGSSL_LIB=$(BORINGSSL_LIB) tools/check-linkage.sh $(BINS)

bench: bench-deps
	@$(MAKE) --no-print-directory SAN=0 all $(BENCHES) $(BENCH_TOOLS)
	@SBC_BUILD="$(abspath $(B))" tools/run-bench.sh $(BENCHES) $(BENCH_SCRIPTS)

run: deps
	@$(MAKE) --no-print-directory all
	exec $(B)/sbc-control --data-dir "$(CURDIR)/run" --bin-dir "$(abspath $(B))"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/sbc
	install -m 0755 $(B)/sbcctl $(DESTDIR)$(PREFIX)/bin/sbcctl
	install -m 0755 $(B)/sbc-control $(DESTDIR)$(PREFIX)/bin/sbc-control
	install -m 0755 $(B)/sbc-signal $(B)/sbc-media $(DESTDIR)$(PREFIX)/lib/sbc/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@PREFIX@|$(PREFIX)|g' deploy/sbc.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/sbc.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/sbc.service
	install -d $(DESTDIR)$(PREFIX)/share/doc/sbc
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sbc/README.md
	install -m 0644 sbc-control/README.md $(DESTDIR)$(PREFIX)/share/doc/sbc/control.md
	install -m 0644 deploy/sbc.json $(DESTDIR)$(PREFIX)/share/doc/sbc/sbc.json.example

clean:
	rm -rf build build-san

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
