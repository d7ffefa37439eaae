/* sbc — configuration keys of all three processes, declared once, and the
 * loader that walks JSON against them (see config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/config.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/shm-t.h"

#define C SBC_CFG_CONTROL
#define S SBC_CFG_SIGNAL
#define M SBC_CFG_MEDIA
#define ALL (C | S | M)

#define F(field) offsetof(sbc_config, field), sizeof(((sbc_config *)0)->field)
#define L(field) offsetof(sbc_cfg_listen, field), sizeof(((sbc_cfg_listen *)0)->field)
#define P(field) offsetof(sbc_cfg_tls_profile, field), sizeof(((sbc_cfg_tls_profile *)0)->field)
#define CE(field) offsetof(sbc_cfg_cert, field), sizeof(((sbc_cfg_cert *)0)->field)
/* An array of at least lo elements: where it starts, one element's size, lo,
 * and its capacity as the most (so the loader never writes past it); its
 * count goes in count_off. */
#define ARR(type, field, lo)                                                                                 \
	offsetof(type, field), sizeof(((type *)0)->field[0]), lo,                                            \
		sizeof(((type *)0)->field) / sizeof(((type *)0)->field[0])
#define NOF 0, 0

/* Every configuration key, once: path, type, readers, flags, field, range,
 * choices, default[, count]. The order is runtime.json's order. */
static const sbc_cfg_key keys[] = {
	{"log_level", SBC_CFG_ENUM, ALL, 0, F(log_level), 0, 0, "error|warn|notice|info|debug", "info", 0},
	/* The children accept data_dir (it is in runtime.json) but use store_path. */
	{"data_dir", SBC_CFG_PATH, ALL, 0, F(data_dir), 0, 0, NULL, "run", 0},
	/* Empty: sbc-control's finalize puts <data_dir>/store; sbc-signal then has no store. */
	{"store_path", SBC_CFG_PATH, C | S, SBC_CFG_OMIT_EMPTY, F(store_path), 0, 0, NULL, NULL, 0},

	{"signal", SBC_CFG_SECTION, C | S, 0, NOF, 0, 0, NULL, NULL, 0},
	{"signal.workers", SBC_CFG_UINT, C | S, 0, F(signal.workers), 1, SHM_MAX_WORKERS, NULL, "1", 0},
	{"signal.listen", SBC_CFG_ARRAY, C | S, 0, ARR(sbc_config, signal.listen, 1),
	 "listeners", NULL, offsetof(sbc_config, signal.nlisten)},
	{"signal.listen[].transport", SBC_CFG_ENUM, C | S, SBC_CFG_REQUIRED, L(transport), 0, 0, "udp|tcp|tls", NULL, 0},
	{"signal.listen[].address", SBC_CFG_HOSTPORT, C | S, SBC_CFG_REQUIRED, L(address), 0, 0, NULL, NULL, 0},
	{"signal.listen[].tls_profile", SBC_CFG_STR, C | S, SBC_CFG_OMIT_EMPTY, L(tls_profile), 1, 0, NULL, NULL, 0},
	{"signal.dns_servers", SBC_CFG_STR, C | S, SBC_CFG_OMIT_EMPTY, F(signal.dns_servers), 0, 0, NULL, NULL, 0},
	{"signal.unknown_sources", SBC_CFG_ENUM, C | S, 0, F(signal.unknown_sources), 0, 0, "reject|drop", "reject", 0},
	{"signal.limits", SBC_CFG_SECTION, C | S, 0, NOF, 0, 0, NULL, NULL, 0},
	{"signal.limits.max_header", SBC_CFG_UINT, C | S, 0, F(signal.limits.max_header), 512, 1u << 20, NULL, "8192", 0},
	{"signal.limits.max_body", SBC_CFG_UINT, C | S, 0, F(signal.limits.max_body), 0, 1u << 24, NULL, "65536", 0},
	{"signal.limits.handshake_timeout_ms", SBC_CFG_UINT, C | S, 0, F(signal.limits.handshake_timeout_ms), 10,
	 600000, NULL, "10000", 0},
	{"signal.limits.partial_timeout_ms", SBC_CFG_UINT, C | S, 0, F(signal.limits.partial_timeout_ms), 10, 3600000,
	 NULL, "30000", 0},
	{"signal.limits.max_conns_per_source", SBC_CFG_UINT, C | S, 0, F(signal.limits.max_conns_per_source), 1,
	 10000000, NULL, "20000", 0},
	{"signal.limits.handshakes_per_source_per_s", SBC_CFG_UINT, C | S, 0,
	 F(signal.limits.handshakes_per_source_per_s), 1, 10000000, NULL, "2000", 0},
	{"signal.limits.handshake_burst_per_source", SBC_CFG_UINT, C | S, 0,
	 F(signal.limits.handshake_burst_per_source), 1, 10000000, NULL, "4000", 0},
	{"signal.limits.ticket_rotate_s", SBC_CFG_UINT, C | S, 0, F(signal.limits.ticket_rotate_s), 1, 86400 * 7, NULL,
	 "3600", 0},
	{"signal.limits.max_conns", SBC_CFG_UINT, C | S, 0, F(signal.limits.max_conns), 1, 100000000, NULL, "1000000", 0},
	/* B2BUA: the live transactions (all workers) a burst must have reached
	 * for its freed heap to be handed back once they are gone (mem_settle;
	 * ~3 KB each: 4096 is some 12 MB); lower in tests */
	{"signal.limits.trim_min_transactions", SBC_CFG_UINT, C | S, 0, F(signal.limits.trim_min_transactions), 256,
	 100000000, NULL, "4096", 0},
	/* B2BUA, per target: an INVITE without any response this long goes to
	 * the next route (Timer B alone would wait 64*T1 = 32 s); one that got
	 * a provisional but no final response this long since the last one is
	 * CANCELled and goes to the next route (Timer C, RFC 3261 16.6: > 3 min) */
	{"signal.timers", SBC_CFG_SECTION, C | S, 0, NOF, 0, 0, NULL, NULL, 0},
	{"signal.timers.no_response_ms", SBC_CFG_UINT, C | S, 0, F(signal.timers.no_response_ms), 100, 32000, NULL,
	 "3000", 0},
	{"signal.timers.no_answer_ms", SBC_CFG_UINT, C | S, 0, F(signal.timers.no_answer_ms), 500, 3600000, NULL,
	 "180000", 0},
	/* RFC 3261 T1, the RTT estimate every transaction timer derives from
	 * (A, B, E, F, G, H, J, L, M: 64*T1 = 32 s by default); smaller in a
	 * private network with a lower RTT, or in tests */
	{"signal.timers.t1_ms", SBC_CFG_UINT, C | S, 0, F(signal.timers.t1_ms), 20, 10000, NULL, "500", 0},
	/* RFC 4028 session timer kept by the B2BUA: the shortest session
	 * interval it enforces (a shorter one the endpoints agree on is timed
	 * as this one); 90 is RFC 4028's smallest Min-SE; lower in tests */
	{"signal.timers.session_min_s", SBC_CFG_UINT, C | S, 0, F(signal.timers.session_min_s), 1, 86400, NULL, "90",
	 0},
	/* TLS material from files: sbc-signal started without sbc-control only
	 * (under sbc-control the profiles come from the store's tls.* area). */
	{"signal.tls_profiles", SBC_CFG_ARRAY, S, 0, ARR(sbc_config, signal.tls_profiles, 0),
	 "profiles", NULL, offsetof(sbc_config, signal.n_tls_profiles)},
	{"signal.tls_profiles[].name", SBC_CFG_STR, S, SBC_CFG_REQUIRED, P(name), 1, 0, NULL, NULL, 0},
	{"signal.tls_profiles[].certs", SBC_CFG_ARRAY, S, SBC_CFG_REQUIRED, ARR(sbc_cfg_tls_profile, certs, 1),
	 "certificates", NULL, offsetof(sbc_cfg_tls_profile, n_certs)},
	{"signal.tls_profiles[].certs[].cert", SBC_CFG_PATH, S, SBC_CFG_REQUIRED, CE(cert), 0, 0, NULL, NULL, 0},
	{"signal.tls_profiles[].certs[].key", SBC_CFG_PATH, S, SBC_CFG_REQUIRED, CE(key), 0, 0, NULL, NULL, 0},
	{"signal.tls_profiles[].ca", SBC_CFG_PATH, S, 0, P(ca), 0, 0, NULL, NULL, 0},
	{"signal.tls_profiles[].verify_client", SBC_CFG_BOOL, S, 0, P(verify_client), 0, 0, NULL, "false", 0},
	{"signal.tls_profiles[].verify_depth", SBC_CFG_UINT, S, 0, P(verify_depth), 0, 16, NULL, "4", 0},
	{"signal.tls_profiles[].sni", SBC_CFG_ARRAY, S, 0, ARR(sbc_cfg_tls_profile, sni, 0), "names",
	 NULL, offsetof(sbc_cfg_tls_profile, n_sni)},
	{"signal.tls_profiles[].sni[]", SBC_CFG_STR, S, 0, 0, SBC_CFG_SNI_MAX, 1, 0, NULL, NULL, 0},

	/* sbc-signal reads the relay's address and ports: SDP naming them is refused (sig_self.h) */
	{"media", SBC_CFG_SECTION, C | S | M, 0, NOF, 0, 0, NULL, NULL, 0},
	{"media.workers", SBC_CFG_UINT, C | M, 0, F(media.workers), 1, SHM_MAX_WORKERS, NULL, "1", 0},
	{"media.address", SBC_CFG_IP, C | S | M, 0, F(media.address), 0, 0, NULL, "127.0.0.1", 0},
	{"media.port_min", SBC_CFG_UINT, C | S | M, 0, F(media.port_min), 1024, 65534, NULL, "30000", 0},
	{"media.port_max", SBC_CFG_UINT, C | S | M, 0, F(media.port_max), 1025, 65535, NULL, "39999", 0},
	{"media.backend", SBC_CFG_ENUM, C | M, 0, F(media.backend), 0, 0, "socket|xdp", "socket", 0},
	{"media.rtp_timeout_ms", SBC_CFG_UINT, C | M, 0, F(media.rtp_timeout_ms), 100, 86400000, NULL, "30000", 0},
	{"media.xdp_interfaces", SBC_CFG_IFNAMES, C | M, SBC_CFG_OMIT_EMPTY, F(media.xdp_interfaces), 0,
	 SBC_CFG_XDP_IFS, NULL, NULL, 0},
	/* 64 KB per port: ~80 packets of backlog, no bufferbloat. */
	{"media.rcvbuf", SBC_CFG_UINT, C | M, 0, F(media.rcvbuf), 4096, 64u << 20, NULL, "65536", 0},

	{"demo", SBC_CFG_SECTION, C, 0, NOF, 0, 0, NULL, NULL, 0},
	/* The default with a file; sbc-control's embedded default turns it on. */
	{"demo.enabled", SBC_CFG_BOOL, C, 0, F(demo.enabled), 0, 0, NULL, "false", 0},
	{"demo.outbound", SBC_CFG_HOSTPORT, C, 0, F(demo.outbound), 0, 0, NULL, "127.0.0.1:5080", 0},
	{"demo.inbound_cidr", SBC_CFG_CIDR, C, 0, F(demo.inbound_cidr), 0, 0, NULL, "127.0.0.0/8", 0},

	{"control", SBC_CFG_SECTION, C, 0, NOF, 0, 0, NULL, NULL, 0},
	{"control.socket", SBC_CFG_PATH, C, 0, F(control.socket), 0, 0, NULL, NULL, 0},
	{"control.max_request_bytes", SBC_CFG_UINT, C, 0, F(control.max_request_bytes), 1024, 64u << 20, NULL,
	 "4194304", 0},
	{"control.max_clients", SBC_CFG_UINT, C, 0, F(control.max_clients), 1, 100000, NULL, "1024", 0},
	{"control.client_queue_bytes", SBC_CFG_UINT, C, 0, F(control.client_queue_bytes), 4096, 256u << 20, NULL,
	 "16777216", 0},
	{"control.requests_per_sec", SBC_CFG_UINT, C, 0, F(control.requests_per_sec), 0, 10000000, NULL, "0", 0},
	{"control.partial_timeout_ms", SBC_CFG_UINT, C, 0, F(control.partial_timeout_ms), 100, 3600000, NULL, "30000", 0},
	{"control.restart_max", SBC_CFG_UINT, C, 0, F(control.restart_max), 0, 1000, NULL, "5", 0},
	{"control.backoff_initial_ms", SBC_CFG_UINT, C, 0, F(control.backoff_initial_ms), 1, 600000, NULL, "250", 0},
	{"control.backoff_max_ms", SBC_CFG_UINT, C, 0, F(control.backoff_max_ms), 1, 3600000, NULL, "30000", 0},
	{"control.stable_ms", SBC_CFG_UINT, C, 0, F(control.stable_ms), 1, 3600000, NULL, "30000", 0},
	{"control.stop_timeout_ms", SBC_CFG_UINT, C, 0, F(control.stop_timeout_ms), 10, 600000, NULL, "10000", 0},
	{"control.drain_ms", SBC_CFG_UINT, C, 0, F(control.drain_ms), 0, 3600000, NULL, "5000", 0},
	{"control.stats_timeout_ms", SBC_CFG_UINT, C, 0, F(control.stats_timeout_ms), 10, 60000, NULL, "1000", 0},
	{"control.ring_bytes", SBC_CFG_POW2, C, 0, F(control.ring_bytes), 4096, 1u << 28, NULL, "1048576", 0},
	{"control.ctl_ring_bytes", SBC_CFG_POW2, C, 0, F(control.ctl_ring_bytes), 16384, 1u << 26, NULL, "65536", 0},
};

#undef F
#undef L
#undef P
#undef CE
#undef ARR
#undef NOF

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

const sbc_cfg_key *sbc_config_keys(size_t *n)
{
	*n = NKEYS;
	return keys;
}

static void set_str(char *dst, size_t size, const char *src) { snprintf(dst, size, "%s", src); }

static const sbc_cfg_key *find_key(const char *path)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].path, path) == 0)
			return &keys[i];
	return NULL;
}

/* Whether k is a field directly below prefix ("" is the top level,
 * "signal.listen[]" an element of signal.listen). The key "x[]" of an array
 * of plain values is no field of anything. */
static bool child_of(const sbc_cfg_key *k, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *rest = k->path;
	if (n) {
		if (strncmp(k->path, prefix, n) != 0 || k->path[n] != '.')
			return false;
		rest += n + 1;
	}
	return !strchr(rest, '.') && !strchr(rest, '[');
}

static const char *leaf_of(const sbc_cfg_key *k)
{
	const char *dot = strrchr(k->path, '.');
	return dot ? dot + 1 : k->path;
}

/* Sections are nested structs: their keys' offsets are from the same base. */
static void set_defaults(void *base, const char *prefix)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const sbc_cfg_key *k = &keys[i];
		char *field = (char *)base + k->off;
		if (!child_of(k, prefix))
			continue;
		if (k->type == SBC_CFG_SECTION) {
			set_defaults(base, k->path);
			continue;
		}
		if (!k->def)
			continue; /* zero, as the caller cleared it */
		switch (k->type) {
		case SBC_CFG_UINT:
		case SBC_CFG_POW2:
			*(unsigned *)field = (unsigned)strtoul(k->def, NULL, 10);
			break;
		case SBC_CFG_BOOL:
			*(bool *)field = strcmp(k->def, "true") == 0;
			break;
		case SBC_CFG_ARRAY:
		case SBC_CFG_IFNAMES:
			break; /* empty */
		default:
			set_str(field, k->size, k->def);
			break;
		}
	}
}

void sbc_config_defaults(sbc_config *c)
{
	memset(c, 0, sizeof(*c));
	set_defaults(c, "");
}

static int apply_object(void *base, json_t *obj, const char *prefix, const char *shown, unsigned reader,
			char *err, size_t errlen);
static int apply_value(void *base, const sbc_cfg_key *k, json_t *v, const char *shown, unsigned reader,
		       char *err, size_t errlen);

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, v, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

/* Rules of one array element beyond its keys' own. */
static int check_element(const sbc_cfg_key *k, void *elem, const char *shown, char *err, size_t errlen)
{
	if (strcmp(k->path, "signal.listen") == 0) {
		sbc_cfg_listen *l = elem;
		bool tls = strcmp(l->transport, "tls") == 0;
		if (tls && !l->tls_profile[0])
			set_str(l->tls_profile, sizeof(l->tls_profile), "default");
		if (!tls && l->tls_profile[0]) {
			sbc_errf(err, errlen, "%s.tls_profile: only allowed on a tls listener", shown);
			return SBC_E_CONFIG;
		}
	} else if (strcmp(k->path, "signal.tls_profiles") == 0) {
		sbc_cfg_tls_profile *p = elem;
		if (p->verify_client && !p->ca[0]) {
			sbc_errf(err, errlen, "%s.verify_client: needs a ca bundle (%s.ca)", shown, shown);
			return SBC_E_CONFIG;
		}
	}
	return 0;
}

static int apply_array(void *base, const sbc_cfg_key *k, json_t *v, const char *shown, unsigned reader,
		       char *err, size_t errlen)
{
	char elem_path[128];
	if (!json_is_array(v)) {
		sbc_errf(err, errlen, "%s: expected an array of %s", shown, k->choices);
		return SBC_E_CONFIG;
	}
	size_t n = json_array_size(v);
	if (n < k->min || n > k->max) {
		sbc_errf(err, errlen, "%s: %zu %s, allowed %llu..%llu", shown, n, k->choices, k->min, k->max);
		return SBC_E_CONFIG;
	}
	snprintf(elem_path, sizeof(elem_path), "%s[]", k->path);
	const sbc_cfg_key *value_key = find_key(elem_path); /* an array of plain values */
	char *arr = (char *)base + k->off;
	/* k->max is the array's capacity (the table says so). */
	memset(arr, 0, k->size * k->max);
	for (size_t i = 0; i < n; i++) {
		char at[200];
		char *elem = arr + i * k->size;
		json_t *e = json_array_get(v, i);
		int ret;
		snprintf(at, sizeof(at), "%s[%zu]", shown, i);
		if (value_key) {
			if ((ret = apply_value(elem, value_key, e, at, reader, err, errlen)))
				return ret;
			continue;
		}
		if (!json_is_object(e)) {
			sbc_errf(err, errlen, "%s: expected an object", at);
			return SBC_E_CONFIG;
		}
		set_defaults(elem, elem_path);
		if ((ret = apply_object(elem, e, elem_path, at, reader, err, errlen)))
			return ret;
		for (size_t j = 0; j < NKEYS; j++)
			if ((keys[j].flags & SBC_CFG_REQUIRED) && child_of(&keys[j], elem_path) &&
			    !json_object_get(e, leaf_of(&keys[j]))) {
				sbc_errf(err, errlen, "%s.%s: missing", at, leaf_of(&keys[j]));
				return SBC_E_CONFIG;
			}
		if ((ret = check_element(k, elem, at, err, errlen)))
			return ret;
	}
	*(unsigned *)((char *)base + k->count_off) = (unsigned)n;
	return 0;
}

/* Linux's rule for a device name (dev_valid_name): 1..15 bytes, not "." or
 * "..", no '/', ':' or white space. */
static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= SBC_CFG_IFNAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return strcspn(s, "/: \t\r\n\v\f") == n;
}

static int apply_ifnames(void *field, const sbc_cfg_key *k, json_t *v, const char *shown, char *err,
			 size_t errlen)
{
	sbc_cfg_ifnames tmp;
	memset(&tmp, 0, sizeof(tmp));
	if (json_is_string(v)) {
		/* sbc-control's form: "eth0,eth1" */
		char list[128], *save = NULL, *tok;
		if (json_string_length(v) >= sizeof(list) || strlen(json_string_value(v)) != json_string_length(v)) {
			sbc_errf(err, errlen, "%s: not a list of interface names", shown);
			return SBC_E_CONFIG;
		}
		set_str(list, sizeof(list), json_string_value(v));
		for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			if (tmp.n == k->max || !ifname_ok(tok)) {
				sbc_errf(err, errlen, "%s: \"%s\" is not an interface name (at most %llu, comma-separated)",
				     shown, tok, k->max);
				return SBC_E_CONFIG;
			}
			set_str(tmp.name[tmp.n++], sizeof(tmp.name[0]), tok);
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		if (json_array_size(v) > k->max) {
			sbc_errf(err, errlen, "%s: %zu interfaces, allowed at most %llu", shown, json_array_size(v), k->max);
			return SBC_E_CONFIG;
		}
		json_array_foreach(v, i, e) {
			const char *name = json_string_value(e);
			if (!name || strlen(name) != json_string_length(e) || !ifname_ok(name)) {
				sbc_errf(err, errlen, "%s[%zu]: expected an interface name", shown, i);
				return SBC_E_CONFIG;
			}
			set_str(tmp.name[tmp.n++], sizeof(tmp.name[0]), name);
		}
	} else {
		sbc_errf(err, errlen, "%s: expected interface names (\"eth0,eth1\" or [\"eth0\",\"eth1\"])", shown);
		return SBC_E_CONFIG;
	}
	memcpy(field, &tmp, sizeof(tmp));
	return 0;
}

static int apply_string(char *field, const sbc_cfg_key *k, json_t *v, const char *shown, char *err,
			size_t errlen)
{
	if (!json_is_string(v)) {
		sbc_errf(err, errlen, "%s: expected a string", shown);
		return SBC_E_CONFIG;
	}
	const char *s = json_string_value(v);
	if (strlen(s) >= k->size || (k->min && !*s) || (k->type == SBC_CFG_PATH && !*s)) {
		sbc_errf(err, errlen, "%s: %s", shown, *s ? "too long" : "must not be empty");
		return SBC_E_CONFIG;
	}
	if (strlen(s) != json_string_length(v)) {
		sbc_errf(err, errlen, "%s: contains a NUL byte", shown);
		return SBC_E_CONFIG;
	}
	if (k->type == SBC_CFG_ENUM && !choice_ok(k->choices, s)) {
		sbc_errf(err, errlen, "%s: \"%s\" is not one of %s", shown, s, k->choices);
		return SBC_E_CONFIG;
	}
	if (k->type == SBC_CFG_IP) {
		sbc_addr a;
		if (strchr(s, ']') || strchr(s, '[') || sbc_addr_parse(s, 0, &a) != 0 ||
		    (a.sa.sa_family == AF_INET && strchr(s, ':'))) {
			sbc_errf(err, errlen, "%s: \"%s\" is not an IP address", shown, s);
			return SBC_E_CONFIG;
		}
	}
	if (k->type == SBC_CFG_CIDR) {
		sbc_cidr cidr;
		if (sbc_cidr_parse(s, &cidr) != 0) {
			sbc_errf(err, errlen, "%s: \"%s\" is not an address prefix (e.g. 127.0.0.0/8)", shown, s);
			return SBC_E_CONFIG;
		}
	}
	if (k->type == SBC_CFG_HOSTPORT) {
		sbc_addr a;
		if (sbc_addr_parse(s, -1, &a) != 0 || sbc_addr_port(&a) == 0) {
			sbc_errf(err, errlen, "%s: \"%s\" is not an address:port (e.g. 127.0.0.1:5060, [::1]:5061)",
			     shown, s);
			return SBC_E_CONFIG;
		}
	}
	set_str(field, k->size, s);
	return 0;
}

static int apply_value(void *base, const sbc_cfg_key *k, json_t *v, const char *shown, unsigned reader,
		       char *err, size_t errlen)
{
	char *field = (char *)base + k->off;

	switch (k->type) {
	case SBC_CFG_SECTION:
		if (!json_is_object(v)) {
			sbc_errf(err, errlen, "%s: expected an object", shown);
			return SBC_E_CONFIG;
		}
		return apply_object(base, v, k->path, shown, reader, err, errlen);
	case SBC_CFG_ARRAY:
		return apply_array(base, k, v, shown, reader, err, errlen);
	case SBC_CFG_IFNAMES:
		return apply_ifnames(field, k, v, shown, err, errlen);
	case SBC_CFG_BOOL:
		if (!json_is_boolean(v)) {
			sbc_errf(err, errlen, "%s: expected true or false", shown);
			return SBC_E_CONFIG;
		}
		*(bool *)field = json_is_true(v);
		return 0;
	case SBC_CFG_UINT:
	case SBC_CFG_POW2: {
		if (!json_is_integer(v)) {
			sbc_errf(err, errlen, "%s: expected an integer", shown);
			return SBC_E_CONFIG;
		}
		json_int_t n = json_integer_value(v);
		if (n < 0 || (unsigned long long)n < k->min || (unsigned long long)n > k->max) {
			sbc_errf(err, errlen, "%s: %lld out of range %llu..%llu", shown, (long long)n, k->min, k->max);
			return SBC_E_CONFIG;
		}
		if (k->type == SBC_CFG_POW2 && (n & (n - 1)) != 0) {
			sbc_errf(err, errlen, "%s: %lld is not a power of two", shown, (long long)n);
			return SBC_E_CONFIG;
		}
		*(unsigned *)field = (unsigned)n;
		return 0;
	}
	default:
		return apply_string(field, k, v, shown, err, errlen);
	}
}

static int apply_object(void *base, json_t *obj, const char *prefix, const char *shown, unsigned reader,
			char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		char path[160], at[240];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
		snprintf(at, sizeof(at), "%s%s%s", shown, *shown ? "." : "", key);
		/* A name with '.' or '[' would address another key of the table. */
		const sbc_cfg_key *k = strlen(key) <= 64 && !strpbrk(key, ".[]") ? find_key(path) : NULL;
		if (k && !(k->readers & reader)) {
			if (reader != SBC_CFG_CONTROL)
				continue; /* another process's key */
			k = NULL;         /* only a child reads it: sbc-control could not pass it on */
		}
		if (!k) {
			if (!*prefix && reader != SBC_CFG_CONTROL) {
				/* runtime.json from a newer sbc-control */
				SBC_WARN("configuration: unknown key \"%.64s\" ignored", key);
				continue;
			}
			sbc_errf(err, errlen, "%s: unknown key \"%.64s\"", at, key);
			return SBC_E_CONFIG;
		}
		int ret = apply_value(base, k, v, at, reader, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

int sbc_config_apply_json(sbc_config *c, json_t *root, unsigned reader, char *err, size_t errlen)
{
	if (!json_is_object(root)) {
		sbc_errf(err, errlen, "configuration: expected a JSON object");
		return SBC_E_CONFIG;
	}
	/* Apply to a copy so a failure leaves c untouched. */
	sbc_config *tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	*tmp = *c;
	int ret = apply_object(tmp, root, "", "", reader, err, errlen);
	if (ret == 0)
		*c = *tmp;
	free(tmp);
	return ret;
}

int sbc_config_load_file(sbc_config *c, const char *path, unsigned reader, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		if (je.line < 1) /* could not be read: jansson's text names the path and the reason */
			sbc_errf(err, errlen, "%s", je.text);
		else
			sbc_errf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return SBC_E_CONFIG;
	}
	char why[400] = "";
	int ret = sbc_config_apply_json(c, root, reader, why, sizeof(why));
	json_decref(root);
	if (ret == SBC_E_CONFIG) /* the key says what, the file where */
		sbc_errf(err, errlen, "%s: %s", path, why);
	else if (ret)
		sbc_errf(err, errlen, "%s: %s", path, sbc_strerror(ret));
	return ret;
}

int sbc_config_check(const sbc_config *c, unsigned reader, char *err, size_t errlen)
{
	/* sbc-media sets up RTP and RTCP of both legs: four ports at least. */
	if ((reader & (C | M)) && c->media.port_min + 3 > c->media.port_max) {
		sbc_errf(err, errlen, "media.port_min: %u must be at least 3 below media.port_max (%u): 4 ports or more",
		     c->media.port_min, c->media.port_max);
		return SBC_E_CONFIG;
	}
	if ((reader & C) && c->control.backoff_initial_ms > c->control.backoff_max_ms) {
		sbc_errf(err, errlen, "control.backoff_initial_ms: %u exceeds control.backoff_max_ms (%u)",
		     c->control.backoff_initial_ms, c->control.backoff_max_ms);
		return SBC_E_CONFIG;
	}
	/* Control<->child rings both ways for each worker, signal<->media both
	 * ways for each pair (see shm-t.h). */
	unsigned s = c->signal.workers, m = c->media.workers;
	if ((reader & C) && 2 * (s + m + s * m) > SHM_MAX_RINGS) {
		sbc_errf(err, errlen, "signal.workers: %u signal x %u media workers need more than %d rings", s, m,
		     SHM_MAX_RINGS);
		return SBC_E_CONFIG;
	}
	/* (sbc-control's embedded default has listeners; a file's must have one) */
	if ((reader & (C | S)) && c->signal.nlisten == 0) {
		sbc_errf(err, errlen, "signal.listen: no listeners");
		return SBC_E_CONFIG;
	}
	if (reader & (C | S))
		for (unsigned i = 0; i < c->signal.nlisten; i++)
			for (unsigned j = 0; j < i; j++)
				if (strcmp(c->signal.listen[i].transport, c->signal.listen[j].transport) == 0 &&
				    strcmp(c->signal.listen[i].address, c->signal.listen[j].address) == 0) {
					sbc_errf(err, errlen, "signal.listen[%u]: duplicates signal.listen[%u] (%s %s)", i, j,
					     c->signal.listen[i].transport, c->signal.listen[i].address);
					return SBC_E_CONFIG;
				}
	return 0;
}

/* ---- comparing ----------------------------------------------------------------- */

static bool object_differs(const void *a, const void *b, const char *prefix, unsigned reader);

static bool value_differs(const void *a, const void *b, const sbc_cfg_key *k, unsigned reader)
{
	const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
	switch (k->type) {
	case SBC_CFG_SECTION:
		return object_differs(a, b, k->path, reader);
	case SBC_CFG_ARRAY: {
		char elem_path[128];
		unsigned n = *(const unsigned *)((const char *)a + k->count_off);
		if (n != *(const unsigned *)((const char *)b + k->count_off))
			return true;
		snprintf(elem_path, sizeof(elem_path), "%s[]", k->path);
		const sbc_cfg_key *value_key = find_key(elem_path);
		for (unsigned i = 0; i < n; i++) {
			const char *ea = fa + (size_t)i * k->size, *eb = fb + (size_t)i * k->size;
			if (value_key ? value_differs(ea, eb, value_key, reader)
				      : object_differs(ea, eb, elem_path, reader))
				return true;
		}
		return false;
	}
	case SBC_CFG_IFNAMES: {
		const sbc_cfg_ifnames *la = (const sbc_cfg_ifnames *)fa, *lb = (const sbc_cfg_ifnames *)fb;
		if (la->n != lb->n)
			return true;
		for (unsigned i = 0; i < la->n; i++)
			if (strcmp(la->name[i], lb->name[i]) != 0)
				return true;
		return false;
	}
	case SBC_CFG_BOOL:
		return *(const bool *)fa != *(const bool *)fb;
	case SBC_CFG_UINT:
	case SBC_CFG_POW2:
		return *(const unsigned *)fa != *(const unsigned *)fb;
	default:
		return strcmp(fa, fb) != 0; /* not memcmp: bytes after the NUL are not the value */
	}
}

static bool object_differs(const void *a, const void *b, const char *prefix, unsigned reader)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (child_of(&keys[i], prefix) && (keys[i].readers & reader) && value_differs(a, b, &keys[i], reader))
			return true;
	return false;
}

bool sbc_config_differs(const sbc_config *a, const sbc_config *b, unsigned reader)
{
	return object_differs(a, b, "", reader);
}

/* ---- runtime.json ------------------------------------------------------------ */

/* What sbc-control passes on: keys it reads that a child reads too. */
static bool passed_on(const sbc_cfg_key *k) { return (k->readers & C) && (k->readers & (S | M)); }

static json_t *object_json(const void *base, const char *prefix);

/* The JSON of one key's value; NULL: left out (empty and SBC_CFG_OMIT_EMPTY). */
static json_t *value_json(const void *base, const sbc_cfg_key *k)
{
	const char *field = (const char *)base + k->off;
	switch (k->type) {
	case SBC_CFG_SECTION:
		return object_json(base, k->path);
	case SBC_CFG_ARRAY: {
		char elem_path[128];
		snprintf(elem_path, sizeof(elem_path), "%s[]", k->path);
		const sbc_cfg_key *value_key = find_key(elem_path);
		unsigned n = *(const unsigned *)((const char *)base + k->count_off);
		json_t *a = json_array();
		for (unsigned i = 0; a && i < n; i++) {
			const char *elem = field + (size_t)i * k->size;
			json_t *e = value_key ? value_json(elem, value_key) : object_json(elem, elem_path);
			if (e)
				json_array_append_new(a, e);
		}
		return a;
	}
	case SBC_CFG_IFNAMES: {
		const sbc_cfg_ifnames *l = (const sbc_cfg_ifnames *)field;
		char list[SBC_CFG_XDP_IFS * SBC_CFG_IFNAME_MAX] = "";
		size_t len = 0;
		if (l->n == 0 && (k->flags & SBC_CFG_OMIT_EMPTY))
			return NULL;
		for (unsigned i = 0; i < l->n; i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? "," : "", l->name[i]);
		return json_string(list);
	}
	case SBC_CFG_BOOL:
		return json_boolean(*(const bool *)field);
	case SBC_CFG_UINT:
	case SBC_CFG_POW2:
		return json_integer((json_int_t) * (const unsigned *)field);
	default:
		if (!*field && (k->flags & SBC_CFG_OMIT_EMPTY))
			return NULL;
		return json_string(field);
	}
}

static json_t *object_json(const void *base, const char *prefix)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < NKEYS; i++) {
		if (!child_of(&keys[i], prefix) || !passed_on(&keys[i]))
			continue;
		json_t *v = value_json(base, &keys[i]);
		if (v)
			json_object_set_new(o, leaf_of(&keys[i]), v);
	}
	return o;
}

json_t *sbc_config_runtime_json(const sbc_config *c) { return object_json(c, ""); }
