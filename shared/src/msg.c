#include <string.h>
#include <unistd.h>

#include "sbc/err.h"
#include "sbc/msg.h"

typedef struct msg_info {
	uint16_t size;
	uint16_t version;
	bool text; /* variable length up to size */
} msg_info;

static const msg_info msg_table[SBC_MSG_TYPE_MAX] = {
	[SBC_MSG_HELLO] = {sizeof(sbc_msg_hello), SBC_MSG_V_HELLO, false},
	[SBC_MSG_CONFIG_CHANGED] = {sizeof(sbc_msg_config_changed), SBC_MSG_V_CONFIG_CHANGED, false},
	[SBC_MSG_DRAIN] = {sizeof(sbc_msg_drain), SBC_MSG_V_DRAIN, false},
	[SBC_MSG_STATS_REQUEST] = {sizeof(sbc_msg_text), SBC_MSG_V_STATS, true},
	[SBC_MSG_STATS_REPLY] = {sizeof(sbc_msg_text), SBC_MSG_V_STATS, true},
	[SBC_MSG_MEDIA_CREATE] = {sizeof(sbc_msg_media), SBC_MSG_V_MEDIA, false},
	[SBC_MSG_MEDIA_UPDATE] = {sizeof(sbc_msg_media), SBC_MSG_V_MEDIA, false},
	[SBC_MSG_MEDIA_DELETE] = {sizeof(sbc_msg_media_delete), SBC_MSG_V_MEDIA, false},
	[SBC_MSG_MEDIA_REPLY] = {sizeof(sbc_msg_media_reply), SBC_MSG_V_MEDIA, false},
	[SBC_MSG_MEDIA_EVENT] = {sizeof(sbc_msg_media_event), SBC_MSG_V_MEDIA, false},
	[SBC_MSG_MEDIA_QUERY] = {sizeof(sbc_msg_media_delete), SBC_MSG_V_MEDIA, false},
	[SBC_MSG_CALL_EVENT] = {sizeof(sbc_msg_text), SBC_MSG_V_CALL_EVENT, true},
	[SBC_MSG_COMMAND] = {sizeof(sbc_msg_text), SBC_MSG_V_COMMAND, true},
	[SBC_MSG_COMMAND_REPLY] = {sizeof(sbc_msg_text), SBC_MSG_V_COMMAND, true},
};

uint16_t sbc_msg_size(unsigned type) { return type < SBC_MSG_TYPE_MAX ? msg_table[type].size : 0; }

uint16_t sbc_msg_version(unsigned type)
{
	return type < SBC_MSG_TYPE_MAX ? msg_table[type].version : 0;
}

int sbc_msg_check(const shm_rec *rec)
{
	const msg_info *mi;
	if (rec->type >= SBC_MSG_TYPE_MAX || msg_table[rec->type].size == 0)
		return SBC_E_PARSE;
	mi = &msg_table[rec->type];
	if (rec->version != mi->version)
		return SBC_E_MSG_VERSION;
	if (mi->text) {
		const sbc_msg_text *t = (const sbc_msg_text *)rec->data;
		size_t head = offsetof(sbc_msg_text, text);
		if (rec->len < head || rec->len > mi->size || t->len > rec->len - head)
			return SBC_E_PARSE;
		return 0;
	}
	return rec->len == mi->size ? 0 : SBC_E_PARSE;
}

void sbc_msg_hello_fill(sbc_msg_hello *h, unsigned role, unsigned idx)
{
	memset(h, 0, sizeof(*h));
	h->pid = (uint32_t)getpid();
	h->role = (uint8_t)role;
	h->idx = (uint8_t)idx;
	for (unsigned t = 0; t < SBC_MSG_TYPE_MAX; t++)
		h->sizes[t] = msg_table[t].size;
}

int sbc_msg_hello_check(const sbc_msg_hello *peer, unsigned *bad_type)
{
	for (unsigned t = 0; t < SBC_MSG_TYPE_MAX; t++)
		if (peer->sizes[t] != msg_table[t].size) {
			if (bad_type)
				*bad_type = t;
			return SBC_E_MSG_VERSION;
		}
	return 0;
}

int sbc_msg_push_text(shm_ring_prod *p, unsigned type, uint64_t request_id, const char *text,
		      uint32_t len)
{
	sbc_msg_text *m;
	uint32_t total;

	if (len > SBC_MSG_TEXT_MAX)
		return SBC_E_MSG_TOO_BIG;
	total = (uint32_t)offsetof(sbc_msg_text, text) + len;
	if (total > shm_ring_max_payload(p->ring))
		return SBC_E_MSG_TOO_BIG;
	m = shm_ring_reserve(p, (uint16_t)type, sbc_msg_version(type), total);
	if (!m)
		return SBC_E_RING_FULL;
	m->request_id = request_id;
	m->len = len;
	m->_reserved = 0;
	memcpy(m->text, text, len);
	shm_ring_publish(p);
	return 0;
}
