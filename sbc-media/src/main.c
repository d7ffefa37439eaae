/* sbc-media — entry point (wiring only): arguments, configuration, the
 * shared segment and its session region, the workers, signals. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbc/args.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/shm.h"
#include "config.h"
#include "media.h"
#include "xdp_backend.h"

static const char usage[] = "usage: sbc-media --shm /sbc-NNNN --runtime <data-dir>/runtime.json\n"
			    "       sbc-media --version\n";

int main(int argc, char **argv)
{
	sbc_child_args args;
	char err[256];
	med_config cfg;
	shm_seg *seg = NULL;
	void *region;
	size_t region_bytes = 0;
	bool reused = false;
	unsigned workers;
	med_worker **w = NULL;
	_Atomic int stop = 0;
	sigset_t sigs;
	int ret, sig;

	if ((ret = sbc_child_args_parse(argc, argv, usage, "sbc-media 0.1.0", true, &args)) >= 0)
		return ret;
	sbc_log_init("sbc-media", SBC_LOG_INFO, false);
	const char *shm_name = args.shm, *runtime = args.runtime;
	if ((ret = med_config_load(runtime, &cfg, err, sizeof(err))) != 0) {
		SBC_ERROR("fatal: configuration: %s", err); /* err names the file */
		return 1;
	}
	sbc_log_set_level(cfg.log_level);
	if ((ret = shm_seg_attach(shm_name, &seg, err, sizeof(err))) != 0) {
		SBC_ERROR("fatal: shared segment: %s", err);
		return 1;
	}
	workers = shm_seg_header(seg)->workers[SHM_ROLE_MEDIA];
	if (workers != cfg.workers)
		SBC_WARN("runtime.json says %u media workers, the segment has rings for %u: using %u",
			 cfg.workers, workers, workers);
	atomic_store(&shm_seg_header(seg)->kpid[SHM_ROLE_MEDIA], (int32_t)getpid());
	if ((ret = med_xc_global_init(err, sizeof(err))) != 0) {
		SBC_ERROR("fatal: SRTP: %s", err);
		return 1;
	}
	region = shm_seg_region(seg, MED_REGION_NAME, &region_bytes);
	if (!region) {
		region_bytes = MED_SESSION_REGION_BYTES(med_region_slots_for(&cfg));
		region = calloc(1, region_bytes);
		if (!region) {
			SBC_ERROR("fatal: no memory for %zu bytes of session table", region_bytes);
			return 1;
		}
		SBC_WARN("segment %s has no region \"%s\": sessions kept in private memory will not survive a "
			 "restart of sbc-media",
			 shm_name, MED_REGION_NAME);
	}
	if ((ret = med_region_open(region, region_bytes, &cfg, workers, &reused, err, sizeof(err))) != 0) {
		SBC_ERROR("fatal: %s", err);
		return 1;
	}

	/* Workers inherit a mask without the stop signals; main waits for them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* media.backend "xdp": the program attached and checked before the
	 * workers exist; any reason not to use it is logged, sockets carry on. */
	med_xdp *xdp = med_xdp_backend_open(&cfg, workers);
	if (xdp && getenv("SBC_MEDIA_IO") && strcmp(getenv("SBC_MEDIA_IO"), "epoll") != 0)
		SBC_NOTICE("media.backend \"xdp\": SBC_MEDIA_IO=%s ignored (the AF_XDP path is epoll-driven)",
			   getenv("SBC_MEDIA_IO"));
	if (xdp) /* io_uring is the default data path otherwise */
		setenv("SBC_MEDIA_IO", "epoll", 1);

	w = calloc(workers, sizeof(*w));
	if (!w)
		return 1;
	unsigned restored = 0;
	for (unsigned i = 0; i < workers; i++) {
		/* Large (packet buffers): one allocation per worker, at boot. */
		if (!(w[i] = calloc(1, sizeof(med_worker)))) {
			SBC_ERROR("fatal: no memory for worker %u", i);
			return 1;
		}
		if ((ret = med_worker_init(w[i], i, &cfg, seg, region, &stop)) != 0) {
			SBC_ERROR("fatal: worker %u: %s", i, sbc_strerror(ret));
			return 1;
		}
		restored += (unsigned)w[i]->tot.sessions_restored;
	}
	if (xdp) {
		for (unsigned i = 0; i < workers && xdp; i++) {
			char why[256] = "";
			if ((ret = med_worker_xdp_attach(w[i], xdp, why, sizeof(why))) != 0) {
				med_xdp_backend_failed(why[0] ? why : sbc_strerror(ret));
				for (unsigned j = 0; j < i; j++)
					med_worker_xdp_detach(w[j]);
				med_xdp_close(xdp);
				xdp = NULL;
			}
		}
		if (xdp)
			SBC_NOTICE("media backend: AF_XDP on %u interface(s), XDP %s, sockets %s", cfg.n_xdp_ifs,
				   med_xdp_attach_mode(xdp), med_xdp_worker_mode(w[0]->xw));
	}
	for (unsigned i = 0; i < workers; i++)
		if ((ret = med_worker_start(w[i])) != 0) {
			SBC_ERROR("fatal: worker %u thread: %s", i, sbc_strerror(ret));
			return 1;
		}
	{
		char a[SBC_ADDR_STRLEN];
		const med_region_hdr *h = region;
		SBC_NOTICE("started: %u workers, %s ports %u-%u, %u session slots, %s, %u sessions restored", workers,
			   sbc_addr_format_ip(&cfg.address, a, sizeof(a)), h->port_base, h->port_max, h->nslots,
			   reused ? "session table reused" : "session table formatted", restored);
	}
	do {
		ret = sigwait(&sigs, &sig);
	} while (ret != 0);
	SBC_NOTICE("signal %d: stopping", sig);
	atomic_store(&stop, 1);
	for (unsigned i = 0; i < workers; i++)
		med_worker_wake(w[i]);
	for (unsigned i = 0; i < workers; i++) {
		pthread_join(w[i]->thread, NULL);
		med_worker_fini(w[i]);
		free(w[i]);
	}
	med_xdp_close(xdp); /* after every worker's sockets: the interfaces are left clean */
	free(w);
	shm_seg_detach(seg);
	SBC_NOTICE("stopped");
	return 0;
}
