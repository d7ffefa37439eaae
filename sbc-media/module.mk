# sbc-media/: the RTP/SRTP relay (socket and AF_XDP data paths).
MEDIA_PKGS  := libuv libsrtp2 jansson libxdp libbpf liburing
MEDIA_SRCS  := $(filter-out sbc-media/src/main.c,$(wildcard sbc-media/src/*.c))
MEDIA_OBJS  := $(MEDIA_SRCS:%.c=$(B)/obj/%.o)
MEDIA_LIB   := $(B)/libsbcmedia.a
MEDIA_LIBS  := $(call pc,libs,$(MEDIA_PKGS)) $(BORINGSSL_LIBS) $(SHARED_LIBS)

$(B)/obj/sbc-media/%.o: EXTRA_CFLAGS = $(call pc,cflags,$(MEDIA_PKGS)) $(BORINGSSL_CFLAGS) $(MEDIA_XDP_CFLAGS)

# AF_XDP: the XDP program is built for the BPF target and embedded in the media
# library (src/xdp_blob.c .incbin's it), so there is no path to get wrong at run time.
MEDIA_BPF_OBJ := $(B)/bpf/xdp_media.bpf.o
MEDIA_XDP_CFLAGS := -DMED_XDP_BPF_OBJ='"$(abspath $(MEDIA_BPF_OBJ))"'
$(MEDIA_BPF_OBJ): sbc-media/bpf/xdp_media.bpf.c sbc-media/src/xdp_prog.h
	$(Q)mkdir -p $(dir $@) && echo "  BPF  $<" && \
	clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Wall -Werror -c -o $@ $<
$(B)/obj/sbc-media/src/xdp_blob.o: $(MEDIA_BPF_OBJ)

# Test tools of the AF_XDP backend (tests/tools/xdp/*.c), one binary each in $(B)/tools/.
XDP_TOOL_BINS := $(patsubst tests/tools/xdp/%.c,$(B)/tools/%,$(wildcard tests/tools/xdp/*.c))
$(B)/obj/tests/tools/xdp/%.o: EXTRA_CFLAGS = $(call pc,cflags,$(MEDIA_PKGS)) $(BORINGSSL_CFLAGS) -Isbc-media/src
$(XDP_TOOL_BINS): EXTRA_LIBS = $(MEDIA_LIBS)
$(XDP_TOOL_BINS): $(B)/tools/%: $(B)/obj/tests/tools/xdp/%.o $(MEDIA_LIB) $(SHARED_LIB)
	$(LINK)
BINS += $(XDP_TOOL_BINS)

$(MEDIA_LIB): $(MEDIA_OBJS)
	$(Q)echo "  AR   $@" && rm -f $@ && ar rcs $@ $^

$(B)/sbc-media: EXTRA_LIBS = $(MEDIA_LIBS)
$(B)/sbc-media: $(B)/obj/sbc-media/src/main.o $(MEDIA_LIB) $(SHARED_LIB)
	$(LINK)

BINS += $(B)/sbc-media
