# sbc-signal/: SIP transports (UDP, TCP, TLS) and the B2BUA.
SIGNAL_PKGS  := libuv libcares jansson lmdb
SIGNAL_SRCS  := $(filter-out sbc-signal/src/main.c,$(wildcard sbc-signal/src/*.c))
SIGNAL_OBJS  := $(SIGNAL_SRCS:%.c=$(B)/obj/%.o)
SIGNAL_LIB   := $(B)/libsbcsignal.a
SIGNAL_LIBS  := $(call pc,libs,$(SIGNAL_PKGS)) $(BORINGSSL_LIBS) $(SHARED_LIBS)

$(B)/obj/sbc-signal/%.o: EXTRA_CFLAGS = $(call pc,cflags,$(SIGNAL_PKGS)) $(BORINGSSL_CFLAGS)

$(SIGNAL_LIB): $(SIGNAL_OBJS)
	$(Q)echo "  AR   $@" && rm -f $@ && ar rcs $@ $^

$(B)/sbc-signal: EXTRA_LIBS = $(SIGNAL_LIBS)
$(B)/sbc-signal: $(B)/obj/sbc-signal/src/main.o $(SIGNAL_LIB) $(SHARED_LIB)
	$(LINK)

BINS += $(B)/sbc-signal

# The TLS load tool used by the sbc-signal benchmarks (tests/tools/signal/).
SIGLOAD := $(B)/tools/sig-tlsload
$(B)/obj/tests/tools/signal/%.o: EXTRA_CFLAGS = $(BORINGSSL_CFLAGS)
$(SIGLOAD): EXTRA_LIBS = $(BORINGSSL_LIBS)
$(SIGLOAD): $(B)/obj/tests/tools/signal/sig_tlsload.o
	$(LINK)
$(B)/bench/bench_signal_tls: $(SIGLOAD) $(B)/sbc-signal

# sig-resolve: RFC 3263 resolution from the command line (tests, operators).
SIGRESOLVE := $(B)/tools/sig-resolve
$(B)/obj/tests/tools/signal/sig_resolve.o: EXTRA_CFLAGS = $(call pc,cflags,$(SIGNAL_PKGS)) $(BORINGSSL_CFLAGS)
$(SIGRESOLVE): EXTRA_LIBS = $(SIGNAL_LIBS)
$(SIGRESOLVE): $(B)/obj/tests/tools/signal/sig_resolve.o $(SIGNAL_LIB) $(SHARED_LIB)
	$(LINK)
BINS += $(SIGRESOLVE)
