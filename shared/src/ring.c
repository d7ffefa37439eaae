#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sbc/err.h"
#include "sbc/ring.h"

int shm_ring_format(void *mem, uint32_t capacity, int doorbell_fd)
{
	shm_ring_hdr *r = mem;

	if (capacity < 256 || (capacity & (capacity - 1)) != 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->magic = SHM_RING_MAGIC;
	r->capacity = capacity;
	/* A record may take at most a quarter of the ring so that a full-size
	 * record always fits after at most one PAD at the wrap. */
	r->max_record = capacity / 4;
	r->doorbell_fd = doorbell_fd;
	atomic_store(&r->ktail, 0);
	atomic_store(&r->khead, 0);
	atomic_store(&r->ksleeping, 0);
	return 0;
}

int shm_ring_check(const shm_ring_hdr *r, size_t avail)
{
	if (avail < sizeof(*r) || r->magic != SHM_RING_MAGIC)
		return SBC_E_SHM_MAGIC;
	if (r->capacity < 256 || (r->capacity & (r->capacity - 1)) != 0 ||
	    shm_ring_footprint(r->capacity) > avail || r->max_record != r->capacity / 4)
		return SBC_E_SHM_SIZE;
	return 0;
}

void shm_ring_prod_init(shm_ring_prod *p, shm_ring_hdr *ring)
{
	p->ring = ring;
	p->data = ring->data;
	p->mask = ring->capacity - 1;
	p->tail = atomic_load_explicit(&ring->ktail, memory_order_relaxed);
	p->head_cache = atomic_load_explicit(&ring->khead, memory_order_acquire);
	p->unpublished = 0;
	p->doorbell_fd = ring->doorbell_fd;
}

void shm_ring_cons_init(shm_ring_cons *c, shm_ring_hdr *ring)
{
	c->ring = ring;
	c->data = ring->data;
	c->mask = ring->capacity - 1;
	c->head = atomic_load_explicit(&ring->khead, memory_order_relaxed);
	c->tail_cache = c->head;
	c->doorbell_fd = ring->doorbell_fd;
}

static bool has_room(shm_ring_prod *p, uint32_t bytes)
{
	uint32_t cap = p->mask + 1;
	if (p->tail + bytes - p->head_cache <= cap)
		return true;
	p->head_cache = atomic_load_explicit(&p->ring->khead, memory_order_acquire);
	return p->tail + bytes - p->head_cache <= cap;
}

void *shm_ring_reserve(shm_ring_prod *p, uint16_t type, uint16_t version, uint32_t len)
{
	uint32_t need, off, contig, total;
	shm_rec *r;

	if (len > shm_ring_max_payload(p->ring))
		return NULL;
	need = shm_rec_size(len);
	off = p->tail & p->mask;
	contig = p->mask + 1 - off;
	total = contig < need ? contig + need : need;
	if (!has_room(p, total)) {
		atomic_fetch_add_explicit(&p->ring->kfull, 1, memory_order_relaxed);
		return NULL;
	}
	if (contig < need) {
		r = (shm_rec *)(p->data + off);
		r->len = contig - (uint32_t)sizeof(shm_rec);
		r->type = SHM_REC_PAD;
		r->version = 0;
		p->tail += contig;
		off = 0;
	}
	r = (shm_rec *)(p->data + off);
	r->len = len;
	r->type = type;
	r->version = version;
	p->tail += need;
	p->unpublished++;
	return r->data;
}

void shm_ring_publish(shm_ring_prod *p)
{
	shm_ring_hdr *r = p->ring;

	if (p->unpublished == 0)
		return;
	atomic_store_explicit(&r->ktail, p->tail, memory_order_release);
	atomic_store_explicit(&r->kpublished,
			      atomic_load_explicit(&r->kpublished, memory_order_relaxed) + p->unpublished,
			      memory_order_relaxed);
	p->unpublished = 0;
	/* Pairs with the fence in shm_ring_prepare_sleep(): either we see the
	 * flag, or the consumer sees our tail. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->ksleeping, memory_order_relaxed) &&
	    atomic_exchange_explicit(&r->ksleeping, 0, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&r->kwakeups, 1, memory_order_relaxed);
		if (p->doorbell_fd >= 0)
			shm_doorbell_ring(p->doorbell_fd);
	}
}

int shm_ring_push(shm_ring_prod *p, uint16_t type, uint16_t version, const void *msg, uint32_t len)
{
	void *dst;

	if (len > shm_ring_max_payload(p->ring))
		return SBC_E_MSG_TOO_BIG;
	dst = shm_ring_reserve(p, type, version, len);
	if (!dst)
		return SBC_E_RING_FULL;
	memcpy(dst, msg, len);
	shm_ring_publish(p);
	return 0;
}

bool shm_ring_prepare_sleep(shm_ring_cons *c)
{
	atomic_store_explicit(&c->ring->ksleeping, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->ring->ktail, memory_order_acquire) != c->head) {
		atomic_store_explicit(&c->ring->ksleeping, 0, memory_order_relaxed);
		return false;
	}
	return true;
}

int shm_doorbell_create(void)
{
	int fd = eventfd(0, EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

void shm_doorbell_drain(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
}

void shm_doorbell_ring(int fd)
{
	uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;
}

int shm_doorbell_wait(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n > 0;
}
