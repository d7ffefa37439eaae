# shared/: the static library every process links (rings, shm, messages, logging, utils).
SHARED_SRCS := $(wildcard shared/src/*.c)
SHARED_OBJS := $(SHARED_SRCS:%.c=$(B)/obj/%.o)
SHARED_LIB  := $(B)/libsbcshared.a
SHARED_LIBS := -lrt

$(SHARED_LIB): $(SHARED_OBJS)
	$(Q)echo "  AR   $@" && rm -f $@ && ar rcs $@ $^
