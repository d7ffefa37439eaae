# shared/: the static library every process links (rings, shm, messages, logging, utils).
SHARED_SRCS := $(wildcard shared/src/*.c)
SHARED_OBJS := $(SHARED_SRCS:%.c=$(B)/obj/%.o)
SHARED_LIB  := $(B)/libsbcshared.a
SHARED_PKGS := lmdb jansson
SHARED_LIBS := -llmdb -ljansson -lrt

$(B)/obj/shared/%.o: EXTRA_CFLAGS = $(call pc,cflags,$(SHARED_PKGS))

$(SHARED_LIB): $(SHARED_OBJS)
	$(Q)echo "  AR   $@" && rm -f $@ && ar rcs $@ $^
