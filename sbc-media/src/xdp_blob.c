/* sbc-media — the XDP program (bpf/xdp_media.bpf.c, compiled by clang for the
 * BPF target) embedded as bytes, so the loader never looks for a file. */
#include "xdp_backend.h"

#ifndef MED_XDP_BPF_OBJ
#error "MED_XDP_BPF_OBJ must name the compiled BPF object (see sbc-media/module.mk)"
#endif

__asm__(".section .rodata.med_xdp_bpf,\"a\"\n"
	".balign 8\n"
	".globl med_xdp_bpf_obj\n"
	".hidden med_xdp_bpf_obj\n"
	"med_xdp_bpf_obj:\n"
	".incbin \"" MED_XDP_BPF_OBJ "\"\n"
	".globl med_xdp_bpf_obj_end\n"
	".hidden med_xdp_bpf_obj_end\n"
	"med_xdp_bpf_obj_end:\n"
	".previous\n");
