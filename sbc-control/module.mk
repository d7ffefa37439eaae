# sbc-control/: the supervisor (sbc-control) and its client (sbcctl).
CONTROL_PKGS  := jansson lmdb libuv
CONTROL_SRCS  := $(filter-out sbc-control/src/main.c,$(wildcard sbc-control/src/*.c))
CONTROL_OBJS  := $(CONTROL_SRCS:%.c=$(B)/obj/%.o)
CONTROL_LIB   := $(B)/libsbccontrol.a
CONTROL_LIBS  := $(call pc,libs,$(CONTROL_PKGS)) $(BORINGSSL_LIBS) $(SHARED_LIBS)
SBCCTL_SRCS   := $(wildcard sbc-control/sbcctl/*.c)

$(B)/obj/sbc-control/%.o: EXTRA_CFLAGS = $(call pc,cflags,$(CONTROL_PKGS)) $(BORINGSSL_CFLAGS)

$(CONTROL_LIB): $(CONTROL_OBJS)
	$(Q)echo "  AR   $@" && rm -f $@ && ar rcs $@ $^

$(B)/sbc-control: EXTRA_LIBS = $(CONTROL_LIBS)
$(B)/sbc-control: $(B)/obj/sbc-control/src/main.o $(CONTROL_LIB) $(SHARED_LIB)
	$(LINK)

$(B)/sbcctl: EXTRA_LIBS = $(call pc,libs,jansson) $(SHARED_LIBS)
$(B)/sbcctl: $(SBCCTL_SRCS:%.c=$(B)/obj/%.o) $(SHARED_LIB)
	$(LINK)

BINS += $(B)/sbc-control $(B)/sbcctl
