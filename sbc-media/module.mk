# sbc-media/: the RTP/SRTP relay (socket and AF_XDP data paths).
MEDIA_PKGS  := libuv libsrtp2 jansson
MEDIA_SRCS  := $(filter-out sbc-media/src/main.c,$(wildcard sbc-media/src/*.c))
MEDIA_OBJS  := $(MEDIA_SRCS:%.c=$(B)/obj/%.o)
MEDIA_LIB   := $(B)/libsbcmedia.a
MEDIA_LIBS  := $(call pc,libs,$(MEDIA_PKGS)) $(BORINGSSL_LIBS) $(SHARED_LIBS)

$(B)/obj/sbc-media/%.o: EXTRA_CFLAGS = $(call pc,cflags,$(MEDIA_PKGS)) $(BORINGSSL_CFLAGS)

$(MEDIA_LIB): $(MEDIA_OBJS)
	$(Q)echo "  AR   $@" && rm -f $@ && ar rcs $@ $^

$(B)/sbc-media: EXTRA_LIBS = $(MEDIA_LIBS)
$(B)/sbc-media: $(B)/obj/sbc-media/src/main.o $(MEDIA_LIB) $(SHARED_LIB)
	$(LINK)

BINS += $(B)/sbc-media
