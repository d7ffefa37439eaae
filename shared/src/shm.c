#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbc/err.h"
#include "sbc/shm.h"

struct shm_seg {
	shm_seg_hdr *hdr;
	size_t bytes;
	bool creator;
	char name[SHM_NAME_LEN + 8];
	/* Doorbell fds usable in this process: checked to be eventfds at attach,
	 * -1 where the inherited number is not one (so a producer never writes
	 * into an unrelated descriptor). Indexed like hdr->doorbells. */
	int bells[1 + 2 * SHM_MAX_WORKERS];
};

static const char *const role_names[] = {"control", "signal", "media"};

const char *shm_role_name(enum shm_role role)
{
	return (unsigned)role < SHM_ROLE_MAX_ ? role_names[role] : "?";
}

/* FNV-1a over the sizes and offsets that both sides must agree on: a child
 * built from another revision of these structs refuses to attach. */
static uint32_t layout_signature(void)
{
	const uint64_t parts[] = {
		sizeof(shm_seg_hdr), offsetof(shm_seg_hdr, kgen), offsetof(shm_seg_hdr, rings),
		offsetof(shm_seg_hdr, regions), offsetof(shm_seg_hdr, doorbells),
		sizeof(shm_ring_desc), sizeof(shm_region_desc), sizeof(shm_ring_hdr),
		offsetof(shm_ring_hdr, khead), offsetof(shm_ring_hdr, ksleeping),
		offsetof(shm_ring_hdr, data), sizeof(shm_rec), SHM_MAX_RINGS, SHM_AREA_MAX,
	};
	uint32_t h = 2166136261u;
	const uint8_t *p = (const uint8_t *)parts;
	for (size_t i = 0; i < sizeof(parts); i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static bool pow2(uint32_t v) { return v >= 256 && (v & (v - 1)) == 0; }

typedef struct ring_plan {
	uint8_t prole, pidx, crole, cidx;
	uint32_t capacity;
} ring_plan;

/* Every ring the topology needs: control<->each child worker, and each
 * signal worker <-> each media worker, one ring per direction. */
static unsigned plan_rings(const shm_seg_config *cfg, ring_plan *plan)
{
	unsigned n = 0;
	for (unsigned i = 0; i < cfg->signal_workers; i++) {
		plan[n++] = (ring_plan){SHM_ROLE_CONTROL, 0, SHM_ROLE_SIGNAL, (uint8_t)i, cfg->ctl_ring_bytes};
		plan[n++] = (ring_plan){SHM_ROLE_SIGNAL, (uint8_t)i, SHM_ROLE_CONTROL, 0, cfg->ctl_ring_bytes};
	}
	for (unsigned j = 0; j < cfg->media_workers; j++) {
		plan[n++] = (ring_plan){SHM_ROLE_CONTROL, 0, SHM_ROLE_MEDIA, (uint8_t)j, cfg->ctl_ring_bytes};
		plan[n++] = (ring_plan){SHM_ROLE_MEDIA, (uint8_t)j, SHM_ROLE_CONTROL, 0, cfg->ctl_ring_bytes};
	}
	for (unsigned i = 0; i < cfg->signal_workers; i++)
		for (unsigned j = 0; j < cfg->media_workers; j++) {
			plan[n++] = (ring_plan){SHM_ROLE_SIGNAL, (uint8_t)i, SHM_ROLE_MEDIA, (uint8_t)j, cfg->ring_bytes};
			plan[n++] = (ring_plan){SHM_ROLE_MEDIA, (uint8_t)j, SHM_ROLE_SIGNAL, (uint8_t)i, cfg->ring_bytes};
		}
	return n;
}

static int validate_config(const shm_seg_config *cfg, char *errbuf, size_t errlen)
{
	if (cfg->signal_workers < 1 || cfg->signal_workers > SHM_MAX_WORKERS) {
		sbc_errf(errbuf, errlen, "signal_workers %u out of range 1..%d", cfg->signal_workers, SHM_MAX_WORKERS);
		return SBC_E_INVAL;
	}
	if (cfg->media_workers < 1 || cfg->media_workers > SHM_MAX_WORKERS) {
		sbc_errf(errbuf, errlen, "media_workers %u out of range 1..%d", cfg->media_workers, SHM_MAX_WORKERS);
		return SBC_E_INVAL;
	}
	if (2 * (cfg->signal_workers + cfg->media_workers + cfg->signal_workers * cfg->media_workers) >
	    SHM_MAX_RINGS) {
		sbc_errf(errbuf, errlen, "%u signal x %u media workers need more than %d rings",
		     cfg->signal_workers, cfg->media_workers, SHM_MAX_RINGS);
		return SBC_E_INVAL;
	}
	if (!pow2(cfg->ring_bytes) || !pow2(cfg->ctl_ring_bytes)) {
		sbc_errf(errbuf, errlen, "ring sizes must be powers of two >= 256 (got %u and %u)",
		     cfg->ring_bytes, cfg->ctl_ring_bytes);
		return SBC_E_INVAL;
	}
	return 0;
}

static int create_doorbells(shm_seg_hdr *h, const shm_seg_config *cfg)
{
	unsigned n = 0;
	uint32_t counts[SHM_ROLE_MAX_] = {1, cfg->signal_workers, cfg->media_workers};
	for (unsigned role = 0; role < SHM_ROLE_MAX_; role++)
		for (unsigned i = 0; i < counts[role]; i++) {
			int fd = shm_doorbell_create();
			if (fd < 0)
				return fd;
			h->doorbells[n++] = (shm_doorbell_desc){.fd = fd, .role = (uint8_t)role, .idx = (uint8_t)i};
		}
	h->ndoorbells = n;
	return 0;
}

static void close_doorbells(shm_seg_hdr *h)
{
	for (unsigned i = 0; i < h->ndoorbells; i++)
		if (h->doorbells[i].fd >= 0)
			close(h->doorbells[i].fd);
}

int shm_seg_create(const char *name, const shm_seg_config *cfg, shm_seg **out, char *errbuf,
		   size_t errlen)
{
	ring_plan plan[SHM_MAX_RINGS];
	unsigned nrings, nregions = 0;
	uint64_t off, total;
	shm_seg *seg = NULL;
	shm_seg_hdr *h = MAP_FAILED;
	int fd = -1, ret;

	if ((ret = validate_config(cfg, errbuf, errlen)) != 0)
		return ret;
	nrings = plan_rings(cfg, plan);
	off = align_up(sizeof(shm_seg_hdr), 4096);
	for (unsigned i = 0; i < nrings; i++)
		off = align_up(off + shm_ring_footprint(plan[i].capacity), 4096);
	uint64_t region_off[SHM_MAX_REGIONS];
	for (; nregions < SHM_MAX_REGIONS && cfg->regions[nregions].name; nregions++) {
		region_off[nregions] = off;
		off = align_up(off + cfg->regions[nregions].bytes, 4096);
	}
	total = off;

	shm_unlink(name);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		sbc_errf(errbuf, errlen, "shm_open(%s): %s", name, strerror(errno));
		goto Exit;
	}
	if (ftruncate(fd, (off_t)total) < 0) {
		ret = -errno;
		sbc_errf(errbuf, errlen, "ftruncate(%s, %llu): %s", name, (unsigned long long)total, strerror(errno));
		goto Exit;
	}
	h = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		ret = -errno;
		sbc_errf(errbuf, errlen, "mmap(%s): %s", name, strerror(errno));
		goto Exit;
	}
	memset(h, 0, sizeof(*h));
	h->layout_version = SHM_LAYOUT_VERSION;
	h->layout_sig = layout_signature();
	h->total_bytes = total;
	h->hdr_bytes = sizeof(*h);
	h->creator_pid = (int32_t)getpid();
	h->workers[SHM_ROLE_CONTROL] = 1;
	h->workers[SHM_ROLE_SIGNAL] = cfg->signal_workers;
	h->workers[SHM_ROLE_MEDIA] = cfg->media_workers;
	if ((ret = create_doorbells(h, cfg)) != 0) {
		sbc_errf(errbuf, errlen, "eventfd: %s", sbc_strerror(ret));
		goto Exit;
	}
	off = align_up(sizeof(shm_seg_hdr), 4096);
	for (unsigned i = 0; i < nrings; i++) {
		shm_ring_desc *d = &h->rings[i];
		*d = (shm_ring_desc){.offset = off, .bytes = shm_ring_footprint(plan[i].capacity),
				     .producer_role = plan[i].prole, .producer_idx = plan[i].pidx,
				     .consumer_role = plan[i].crole, .consumer_idx = plan[i].cidx};
		int bell = -1;
		for (unsigned b = 0; b < h->ndoorbells; b++)
			if (h->doorbells[b].role == plan[i].crole && h->doorbells[b].idx == plan[i].cidx)
				bell = h->doorbells[b].fd;
		shm_ring_format((uint8_t *)h + off, plan[i].capacity, bell);
		off = align_up(off + d->bytes, 4096);
	}
	h->nrings = nrings;
	for (unsigned i = 0; i < nregions; i++) {
		snprintf(h->regions[i].name, SHM_NAME_LEN, "%s", cfg->regions[i].name);
		h->regions[i].offset = region_off[i];
		h->regions[i].bytes = cfg->regions[i].bytes;
	}
	h->nregions = nregions;

	seg = calloc(1, sizeof(*seg));
	if (!seg) {
		ret = -ENOMEM;
		goto Exit;
	}
	seg->hdr = h;
	seg->bytes = total;
	seg->creator = true;
	for (unsigned b = 0; b < h->ndoorbells; b++)
		seg->bells[b] = h->doorbells[b].fd;
	snprintf(seg->name, sizeof(seg->name), "%s", name);
	/* The magic goes last: a reader racing the creation sees a bad magic,
	 * never a half-built directory. */
	atomic_thread_fence(memory_order_release);
	h->magic = SHM_MAGIC;
	*out = seg;
	ret = 0;

Exit:
	if (ret != 0) {
		if (h != MAP_FAILED) {
			close_doorbells(h);
			munmap(h, total);
		}
		if (fd >= 0)
			shm_unlink(name);
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

static bool fd_is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strstr(target, "eventfd") != NULL;
}

static int validate_header(const shm_seg_hdr *h, size_t bytes, char *errbuf, size_t errlen)
{
	if (h->magic != SHM_MAGIC) {
		sbc_errf(errbuf, errlen, "bad magic %#llx (want %#llx): not an sbc segment or not yet initialised",
		     (unsigned long long)h->magic, (unsigned long long)SHM_MAGIC);
		return SBC_E_SHM_MAGIC;
	}
	if (h->layout_version != SHM_LAYOUT_VERSION) {
		sbc_errf(errbuf, errlen, "layout version %u, this binary expects %u: restart all sbc processes from one build",
		     h->layout_version, SHM_LAYOUT_VERSION);
		return SBC_E_SHM_VERSION;
	}
	if (h->layout_sig != layout_signature()) {
		sbc_errf(errbuf, errlen, "layout signature %#x, this binary expects %#x: structures differ between builds",
		     h->layout_sig, layout_signature());
		return SBC_E_SHM_LAYOUT;
	}
	if (h->hdr_bytes != sizeof(*h) || h->total_bytes != bytes) {
		sbc_errf(errbuf, errlen, "sizes disagree: header %u (want %zu), total %llu (object is %zu)",
		     h->hdr_bytes, sizeof(*h), (unsigned long long)h->total_bytes, bytes);
		return SBC_E_SHM_SIZE;
	}
	if (h->nrings > SHM_MAX_RINGS || h->nregions > SHM_MAX_REGIONS ||
	    h->ndoorbells > sizeof(h->doorbells) / sizeof(h->doorbells[0])) {
		sbc_errf(errbuf, errlen, "directory counts out of range (%u rings, %u regions)", h->nrings, h->nregions);
		return SBC_E_SHM_SIZE;
	}
	for (unsigned i = 0; i < h->nrings; i++) {
		const shm_ring_desc *d = &h->rings[i];
		if (d->offset + d->bytes > bytes ||
		    shm_ring_check((const shm_ring_hdr *)((const uint8_t *)h + d->offset), d->bytes)) {
			sbc_errf(errbuf, errlen, "ring %u (%s %u -> %s %u) is damaged or out of bounds", i,
			     shm_role_name(d->producer_role), d->producer_idx, shm_role_name(d->consumer_role),
			     d->consumer_idx);
			return SBC_E_SHM_SIZE;
		}
	}
	for (unsigned i = 0; i < h->nregions; i++)
		if (h->regions[i].offset + h->regions[i].bytes > bytes) {
			sbc_errf(errbuf, errlen, "region %.*s out of bounds", SHM_NAME_LEN, h->regions[i].name);
			return SBC_E_SHM_SIZE;
		}
	return 0;
}

int shm_seg_attach(const char *name, shm_seg **out, char *errbuf, size_t errlen)
{
	struct stat st;
	shm_seg *seg = NULL;
	void *mem = MAP_FAILED;
	int fd, ret;

	fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		sbc_errf(errbuf, errlen, "shm_open(%s): %s (is sbc-control running?)", name, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		sbc_errf(errbuf, errlen, "fstat(%s): %s", name, strerror(errno));
		goto Exit;
	}
	if ((size_t)st.st_size < sizeof(shm_seg_hdr)) {
		sbc_errf(errbuf, errlen, "segment %s is %lld bytes, smaller than its header (%zu)", name,
		     (long long)st.st_size, sizeof(shm_seg_hdr));
		ret = SBC_E_SHM_SIZE;
		goto Exit;
	}
	mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		sbc_errf(errbuf, errlen, "mmap(%s): %s", name, strerror(errno));
		goto Exit;
	}
	if ((ret = validate_header(mem, (size_t)st.st_size, errbuf, errlen)) != 0)
		goto Exit;
	seg = calloc(1, sizeof(*seg));
	if (!seg) {
		ret = -ENOMEM;
		goto Exit;
	}
	seg->hdr = mem;
	seg->bytes = (size_t)st.st_size;
	for (unsigned b = 0; b < seg->hdr->ndoorbells; b++)
		seg->bells[b] = fd_is_eventfd(seg->hdr->doorbells[b].fd) ? seg->hdr->doorbells[b].fd : -1;
	snprintf(seg->name, sizeof(seg->name), "%s", name);
	*out = seg;
	ret = 0;
Exit:
	if (ret != 0 && mem != MAP_FAILED)
		munmap(mem, (size_t)st.st_size);
	close(fd);
	return ret;
}

void shm_seg_detach(shm_seg *seg)
{
	if (!seg)
		return;
	if (seg->creator)
		close_doorbells(seg->hdr);
	munmap(seg->hdr, seg->bytes);
	free(seg);
}

int shm_seg_unlink(const char *name) { return shm_unlink(name) < 0 ? -errno : 0; }

shm_seg_hdr *shm_seg_header(shm_seg *seg) { return seg->hdr; }

const char *shm_seg_name(const shm_seg *seg) { return seg->name; }

shm_ring_hdr *shm_seg_ring(shm_seg *seg, enum shm_role prole, unsigned pidx, enum shm_role crole,
			   unsigned cidx)
{
	shm_seg_hdr *h = seg->hdr;
	for (unsigned i = 0; i < h->nrings; i++) {
		const shm_ring_desc *d = &h->rings[i];
		if (d->producer_role == prole && d->producer_idx == pidx && d->consumer_role == crole &&
		    d->consumer_idx == cidx)
			return (shm_ring_hdr *)((uint8_t *)h + d->offset);
	}
	return NULL;
}

int shm_seg_doorbell(shm_seg *seg, enum shm_role role, unsigned idx)
{
	shm_seg_hdr *h = seg->hdr;
	for (unsigned i = 0; i < h->ndoorbells; i++)
		if (h->doorbells[i].role == role && h->doorbells[i].idx == idx)
			return seg->bells[i];
	return -1;
}

int shm_seg_producer(shm_seg *seg, shm_ring_prod *p, enum shm_role prole, unsigned pidx,
		     enum shm_role crole, unsigned cidx)
{
	shm_ring_hdr *r = shm_seg_ring(seg, prole, pidx, crole, cidx);
	if (!r)
		return SBC_E_NOT_FOUND;
	shm_ring_prod_init(p, r);
	p->doorbell_fd = shm_seg_doorbell(seg, crole, cidx);
	return 0;
}

int shm_seg_consumer(shm_seg *seg, shm_ring_cons *c, enum shm_role prole, unsigned pidx,
		     enum shm_role crole, unsigned cidx)
{
	shm_ring_hdr *r = shm_seg_ring(seg, prole, pidx, crole, cidx);
	if (!r)
		return SBC_E_NOT_FOUND;
	shm_ring_cons_init(c, r);
	c->doorbell_fd = shm_seg_doorbell(seg, crole, cidx);
	return 0;
}

void *shm_seg_region(shm_seg *seg, const char *name, size_t *bytes)
{
	shm_seg_hdr *h = seg->hdr;
	for (unsigned i = 0; i < h->nregions; i++)
		if (strncmp(h->regions[i].name, name, SHM_NAME_LEN) == 0) {
			if (bytes)
				*bytes = h->regions[i].bytes;
			return (uint8_t *)h + h->regions[i].offset;
		}
	return NULL;
}
