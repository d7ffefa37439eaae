# tests/: unit tests (cmocka) mirror the source tree under tests/unit/<component>/;
# each test_*.c is one binary in $(B)/tests/unit/ linking its component's library.
# Benchmarks live in tests/bench/<component>/bench_*.c, binaries in $(B)/bench/.
CMOCKA_LIBS := $(call pc,libs,cmocka)

define unit_tests_for
$(1)_UNIT_SRCS := $$(wildcard tests/unit/$(1)/test_*.c)
$(1)_UNIT_BINS := $$(patsubst tests/unit/$(1)/%.c,$$(B)/tests/unit/%,$$($(1)_UNIT_SRCS))
$$(B)/obj/tests/unit/$(1)/%.o: EXTRA_CFLAGS = $(3)
$$($(1)_UNIT_BINS): EXTRA_LIBS = $(4) $$(CMOCKA_LIBS)
$$($(1)_UNIT_BINS): $$(B)/tests/unit/%: $$(B)/obj/tests/unit/$(1)/%.o $(2) $$(SHARED_LIB)
	$$(LINK)
UNIT_TESTS += $$($(1)_UNIT_BINS)
endef

define benches_for
$(1)_BENCH_SRCS := $$(wildcard tests/bench/$(1)/bench_*.c)
$(1)_BENCH_BINS := $$(patsubst tests/bench/$(1)/%.c,$$(B)/bench/%,$$($(1)_BENCH_SRCS))
$$(B)/obj/tests/bench/$(1)/%.o: EXTRA_CFLAGS = $(3)
$$($(1)_BENCH_BINS): EXTRA_LIBS = $(4)
$$($(1)_BENCH_BINS): $$(B)/bench/%: $$(B)/obj/tests/bench/$(1)/%.o $(2) $$(SHARED_LIB)
	$$(LINK)
BENCHES += $$($(1)_BENCH_BINS)
endef

$(eval $(call unit_tests_for,shared,,,$(SHARED_LIBS)))
$(eval $(call unit_tests_for,sbc-control,$(CONTROL_LIB),$(call pc,cflags,$(CONTROL_PKGS)) $(BORINGSSL_CFLAGS),$(CONTROL_LIBS)))
$(eval $(call unit_tests_for,sbc-signal,$(SIGNAL_LIB),$(call pc,cflags,$(SIGNAL_PKGS)) $(BORINGSSL_CFLAGS),$(SIGNAL_LIBS)))
$(eval $(call unit_tests_for,sbc-media,$(MEDIA_LIB),$(call pc,cflags,$(MEDIA_PKGS)) $(BORINGSSL_CFLAGS),$(MEDIA_LIBS)))

$(eval $(call benches_for,shared,,,$(SHARED_LIBS)))
$(eval $(call benches_for,sbc-control,$(CONTROL_LIB),$(call pc,cflags,$(CONTROL_PKGS)) $(BORINGSSL_CFLAGS),$(CONTROL_LIBS)))
$(eval $(call benches_for,sbc-signal,$(SIGNAL_LIB),$(call pc,cflags,$(SIGNAL_PKGS)) $(BORINGSSL_CFLAGS),$(SIGNAL_LIBS)))
$(eval $(call benches_for,sbc-media,$(MEDIA_LIB),$(call pc,cflags,$(MEDIA_PKGS)) $(BORINGSSL_CFLAGS),$(MEDIA_LIBS)))

# Test tools of sbc-media (tests/tools/media/*.c), one binary each in $(B)/tools/.
# They link libsrtp2 as Debian ships it (not the relay's crypto provider), so
# what they decrypt checks the relay independently.
MEDIA_TOOL_BINS := $(patsubst tests/tools/media/%.c,$(B)/tools/%,$(wildcard tests/tools/media/*.c))
$(B)/obj/tests/tools/media/%.o: EXTRA_CFLAGS = $(call pc,cflags,libsrtp2 jansson)
$(MEDIA_TOOL_BINS): EXTRA_LIBS = $(call pc,libs,libsrtp2 jansson) $(SHARED_LIBS)
$(MEDIA_TOOL_BINS): $(B)/tools/%: $(B)/obj/tests/tools/media/%.o $(SHARED_LIB)
	$(LINK)
BINS += $(MEDIA_TOOL_BINS)

# Benchmarks written in python (tests/bench/<component>/bench_*.py) run with
# Debian's python3 beside the C ones; BENCH_TOOLS lists what they drive.
# tests/tools/compare/*.c: load tools of our own, one binary each in $(B)/tools/.
COMPARE_TOOL_BINS := $(patsubst tests/tools/compare/%.c,$(B)/tools/%,$(wildcard tests/tools/compare/*.c))
$(B)/obj/tests/tools/compare/%.o: EXTRA_CFLAGS = $(call pc,cflags,libsrtp2)
$(COMPARE_TOOL_BINS): EXTRA_LIBS = $(call pc,libs,libsrtp2)
$(COMPARE_TOOL_BINS): $(B)/tools/%: $(B)/obj/tests/tools/compare/%.o
	$(LINK)
BENCH_SCRIPTS := $(filter-out tests/bench/sbc-signal/bench_signal_tls.py,$(sort $(wildcard tests/bench/*/bench_*.py)))
BENCH_TOOLS += $(SIGLOAD) $(COMPARE_TOOL_BINS) $(MEDIA_TOOL_BINS)
