/* sbc-control — configuration keys, declared once, and their loader. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/shm-t.h"
#include "ctl_config.h"

enum cfg_type {
	CFG_SECTION, /* a JSON object holding more keys */
	CFG_STR,     /* a string that fits the field */
	CFG_ENUM,    /* a string among choices ("a|b|c") */
	CFG_PATH,    /* a non-empty string path */
	CFG_IP,      /* a literal IPv4/IPv6 address */
	CFG_HOSTPORT,/* a literal address with a port */
	CFG_BOOL,    /* true or false */
	CFG_CIDR,    /* an address prefix */
	CFG_UINT,    /* an integer in min..max */
	CFG_POW2,    /* a power of two in min..max */
	CFG_LISTEN,  /* the array of listeners: elements use the "signal.listen[]." keys */
};

typedef struct cfg_key {
	const char *path;
	enum cfg_type type;
	size_t off, size; /* within ctl_config, or ctl_listen for "signal.listen[]." keys */
	unsigned long long min, max;
	const char *choices;
} cfg_key;

#define F(field) offsetof(ctl_config, field), sizeof(((ctl_config *)0)->field)
#define L(field) offsetof(ctl_listen, field), sizeof(((ctl_listen *)0)->field)
#define NOF 0, 0

/* Every configuration key, once. */
static const cfg_key cfg_keys[] = {
	{"log_level", CFG_ENUM, F(log_level), 0, 0, "error|warn|notice|info|debug"},
	{"data_dir", CFG_PATH, F(data_dir), 0, 0, NULL},
	{"store_path", CFG_PATH, F(store_path), 0, 0, NULL},
	{"signal", CFG_SECTION, NOF, 0, 0, NULL},
	{"signal.workers", CFG_UINT, F(signal.workers), 1, SHM_MAX_WORKERS, NULL},
	{"signal.listen", CFG_LISTEN, NOF, 1, CTL_MAX_LISTEN, NULL},
	{"signal.listen[].transport", CFG_ENUM, L(transport), 0, 0, "udp|tcp|tls"},
	{"signal.listen[].address", CFG_HOSTPORT, L(address), 0, 0, NULL},
	{"signal.listen[].tls_profile", CFG_STR, L(tls_profile), 1, 0, NULL},
	{"signal.dns_servers", CFG_STR, F(signal.dns_servers), 0, 0, NULL},
	{"signal.unknown_sources", CFG_ENUM, F(signal.unknown_sources), 0, 0, "reject|drop"},
	{"media", CFG_SECTION, NOF, 0, 0, NULL},
	{"media.workers", CFG_UINT, F(media.workers), 1, SHM_MAX_WORKERS, NULL},
	{"media.address", CFG_IP, F(media.address), 0, 0, NULL},
	{"media.port_min", CFG_UINT, F(media.port_min), 1024, 65534, NULL},
	{"media.port_max", CFG_UINT, F(media.port_max), 1025, 65535, NULL},
	{"media.backend", CFG_ENUM, F(media.backend), 0, 0, "socket|xdp"},
	{"media.rtp_timeout_ms", CFG_UINT, F(media.rtp_timeout_ms), 100, 86400000, NULL},
	{"media.xdp_interfaces", CFG_STR, F(media.xdp_interfaces), 0, 0, NULL},
	{"demo", CFG_SECTION, NOF, 0, 0, NULL},
	{"demo.enabled", CFG_BOOL, F(demo.enabled), 0, 0, NULL},
	{"demo.outbound", CFG_HOSTPORT, F(demo.outbound), 0, 0, NULL},
	{"demo.inbound_cidr", CFG_CIDR, F(demo.inbound_cidr), 0, 0, NULL},
	{"control", CFG_SECTION, NOF, 0, 0, NULL},
	{"control.socket", CFG_PATH, F(control.socket), 0, 0, NULL},
	{"control.max_request_bytes", CFG_UINT, F(control.max_request_bytes), 1024, 64u << 20, NULL},
	{"control.max_clients", CFG_UINT, F(control.max_clients), 1, 100000, NULL},
	{"control.client_queue_bytes", CFG_UINT, F(control.client_queue_bytes), 4096, 256u << 20, NULL},
	{"control.requests_per_sec", CFG_UINT, F(control.requests_per_sec), 0, 10000000, NULL},
	{"control.partial_timeout_ms", CFG_UINT, F(control.partial_timeout_ms), 100, 3600000, NULL},
	{"control.restart_max", CFG_UINT, F(control.restart_max), 0, 1000, NULL},
	{"control.backoff_initial_ms", CFG_UINT, F(control.backoff_initial_ms), 1, 600000, NULL},
	{"control.backoff_max_ms", CFG_UINT, F(control.backoff_max_ms), 1, 3600000, NULL},
	{"control.stable_ms", CFG_UINT, F(control.stable_ms), 1, 3600000, NULL},
	{"control.stop_timeout_ms", CFG_UINT, F(control.stop_timeout_ms), 10, 600000, NULL},
	{"control.drain_ms", CFG_UINT, F(control.drain_ms), 0, 3600000, NULL},
	{"control.stats_timeout_ms", CFG_UINT, F(control.stats_timeout_ms), 10, 60000, NULL},
	{"control.ring_bytes", CFG_POW2, F(control.ring_bytes), 4096, 1u << 28, NULL},
	{"control.ctl_ring_bytes", CFG_POW2, F(control.ctl_ring_bytes), 16384, 1u << 26, NULL},
};

#undef F
#undef L
#undef NOF

static void errf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void set_str(char *dst, size_t size, const char *src) { snprintf(dst, size, "%s", src); }

void ctl_config_defaults(ctl_config *c)
{
	memset(c, 0, sizeof(*c));
	set_str(c->log_level, sizeof(c->log_level), "info");
	set_str(c->data_dir, sizeof(c->data_dir), "run");
	c->signal.workers = 1;
	c->signal.nlisten = 3;
	c->signal.listen[0] = (ctl_listen){"udp", "127.0.0.1:5060", ""};
	c->signal.listen[1] = (ctl_listen){"tcp", "127.0.0.1:5060", ""};
	c->signal.listen[2] = (ctl_listen){"tls", "127.0.0.1:5061", "default"};
	set_str(c->signal.unknown_sources, sizeof(c->signal.unknown_sources), "reject");
	c->media.workers = 1;
	set_str(c->media.address, sizeof(c->media.address), "127.0.0.1");
	c->media.port_min = 30000;
	c->media.port_max = 39999;
	set_str(c->media.backend, sizeof(c->media.backend), "socket");
	c->media.rtp_timeout_ms = 30000;
	c->demo.enabled = true;
	set_str(c->demo.outbound, sizeof(c->demo.outbound), "127.0.0.1:5080");
	set_str(c->demo.inbound_cidr, sizeof(c->demo.inbound_cidr), "127.0.0.0/8");
	c->control.max_request_bytes = 4u << 20;
	c->control.max_clients = 1024;
	c->control.client_queue_bytes = 16u << 20;
	c->control.requests_per_sec = 0;
	c->control.partial_timeout_ms = 30000;
	c->control.restart_max = 5;
	c->control.backoff_initial_ms = 250;
	c->control.backoff_max_ms = 30000;
	c->control.stable_ms = 30000;
	c->control.stop_timeout_ms = 10000;
	c->control.drain_ms = 5000;
	c->control.stats_timeout_ms = 1000;
	c->control.ring_bytes = 1u << 20;
	c->control.ctl_ring_bytes = 1u << 16;
}

static const cfg_key *find_key(const char *path)
{
	for (size_t i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (strcmp(cfg_keys[i].path, path) == 0)
			return &cfg_keys[i];
	return NULL;
}

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

static int apply_object(void *base, json_t *obj, const char *prefix, const char *shown, char *err,
			size_t errlen);

static int apply_listen(ctl_config *c, const cfg_key *k, json_t *v, const char *shown, char *err,
			size_t errlen)
{
	if (!json_is_array(v)) {
		errf(err, errlen, "%s: expected an array of listeners", shown);
		return SBC_E_CONFIG;
	}
	size_t n = json_array_size(v);
	if (n < k->min || n > k->max) {
		errf(err, errlen, "%s: %zu listeners, allowed %llu..%llu", shown, n, k->min, k->max);
		return SBC_E_CONFIG;
	}
	ctl_listen tmp[CTL_MAX_LISTEN];
	memset(tmp, 0, sizeof(tmp));
	for (size_t i = 0; i < n; i++) {
		char at[200];
		json_t *e = json_array_get(v, i);
		snprintf(at, sizeof(at), "%s[%zu]", shown, i);
		if (!json_is_object(e)) {
			errf(err, errlen, "%s: expected an object", at);
			return SBC_E_CONFIG;
		}
		int ret = apply_object(&tmp[i], e, "signal.listen[]", at, err, errlen);
		if (ret)
			return ret;
		if (!tmp[i].transport[0] || !tmp[i].address[0]) {
			errf(err, errlen, "%s.%s: missing", at, !tmp[i].transport[0] ? "transport" : "address");
			return SBC_E_CONFIG;
		}
		if (strcmp(tmp[i].transport, "tls") == 0 && !tmp[i].tls_profile[0])
			set_str(tmp[i].tls_profile, sizeof(tmp[i].tls_profile), "default");
		if (strcmp(tmp[i].transport, "tls") != 0 && tmp[i].tls_profile[0]) {
			errf(err, errlen, "%s.tls_profile: only allowed on a tls listener", at);
			return SBC_E_CONFIG;
		}
	}
	memcpy(c->signal.listen, tmp, sizeof(tmp));
	c->signal.nlisten = (unsigned)n;
	return 0;
}

static int apply_value(void *base, const cfg_key *k, json_t *v, const char *shown, char *err,
		       size_t errlen)
{
	char *field = (char *)base + k->off;
	const char *s;

	switch (k->type) {
	case CFG_SECTION:
		if (!json_is_object(v)) {
			errf(err, errlen, "%s: expected an object", shown);
			return SBC_E_CONFIG;
		}
		return apply_object(base, v, k->path, shown, err, errlen);
	case CFG_LISTEN:
		return apply_listen(base, k, v, shown, err, errlen);
	case CFG_BOOL:
		if (!json_is_boolean(v)) {
			errf(err, errlen, "%s: expected true or false", shown);
			return SBC_E_CONFIG;
		}
		*(bool *)field = json_is_true(v);
		if (strcmp(k->path, "demo.enabled") == 0)
			((ctl_config *)base)->demo.enabled_set = true;
		return 0;
	case CFG_UINT:
	case CFG_POW2: {
		if (!json_is_integer(v)) {
			errf(err, errlen, "%s: expected an integer", shown);
			return SBC_E_CONFIG;
		}
		json_int_t n = json_integer_value(v);
		if (n < 0 || (unsigned long long)n < k->min || (unsigned long long)n > k->max) {
			errf(err, errlen, "%s: %lld out of range %llu..%llu", shown, (long long)n, k->min, k->max);
			return SBC_E_CONFIG;
		}
		if (k->type == CFG_POW2 && (n & (n - 1)) != 0) {
			errf(err, errlen, "%s: %lld is not a power of two", shown, (long long)n);
			return SBC_E_CONFIG;
		}
		*(unsigned *)field = (unsigned)n;
		return 0;
	}
	default:
		break;
	}
	if (!json_is_string(v)) {
		errf(err, errlen, "%s: expected a string", shown);
		return SBC_E_CONFIG;
	}
	s = json_string_value(v);
	if (strlen(s) >= k->size || (k->min && !*s) || (k->type == CFG_PATH && !*s)) {
		errf(err, errlen, "%s: %s", shown, *s ? "too long" : "must not be empty");
		return SBC_E_CONFIG;
	}
	if (strlen(s) != json_string_length(v)) {
		errf(err, errlen, "%s: contains a NUL byte", shown);
		return SBC_E_CONFIG;
	}
	if (k->type == CFG_ENUM && !choice_ok(k->choices, s)) {
		errf(err, errlen, "%s: \"%s\" is not one of %s", shown, s, k->choices);
		return SBC_E_CONFIG;
	}
	if (k->type == CFG_IP) {
		sbc_addr a;
		if (strchr(s, ']') || strchr(s, '[') || sbc_addr_parse(s, 0, &a) != 0 ||
		    (a.sa.sa_family == AF_INET && strchr(s, ':'))) {
			errf(err, errlen, "%s: \"%s\" is not an IP address", shown, s);
			return SBC_E_CONFIG;
		}
	}
	if (k->type == CFG_CIDR) {
		sbc_cidr cidr;
		if (sbc_cidr_parse(s, &cidr) != 0) {
			errf(err, errlen, "%s: \"%s\" is not an address prefix (e.g. 127.0.0.0/8)", shown, s);
			return SBC_E_CONFIG;
		}
	}
	if (k->type == CFG_HOSTPORT) {
		sbc_addr a;
		if (sbc_addr_parse(s, -1, &a) != 0 || sbc_addr_port(&a) == 0) {
			errf(err, errlen, "%s: \"%s\" is not an address:port (e.g. 127.0.0.1:5060, [::1]:5061)",
			     shown, s);
			return SBC_E_CONFIG;
		}
	}
	set_str(field, k->size, s);
	return 0;
}

static int apply_object(void *base, json_t *obj, const char *prefix, const char *shown, char *err,
			size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		char path[128], at[160];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
		snprintf(at, sizeof(at), "%s%s%s", shown, *shown ? "." : "", key);
		const cfg_key *k = find_key(path);
		if (!k || strlen(key) > 64) {
			errf(err, errlen, "%s: unknown key", at);
			return SBC_E_CONFIG;
		}
		int ret = apply_value(base, k, v, at, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

int ctl_config_apply_json(ctl_config *c, json_t *root, char *err, size_t errlen)
{
	if (!json_is_object(root)) {
		errf(err, errlen, "configuration: expected a JSON object");
		return SBC_E_CONFIG;
	}
	/* Apply to a copy so a failure leaves c untouched. */
	ctl_config *tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	*tmp = *c;
	int ret = apply_object(tmp, root, "", "", err, errlen);
	if (ret == 0) {
		*c = *tmp;
		c->from_file = true;
		if (!c->demo.enabled_set)
			c->demo.enabled = false;
	}
	free(tmp);
	return ret;
}

int ctl_config_load_file(ctl_config *c, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		errf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return SBC_E_CONFIG;
	}
	int ret = ctl_config_apply_json(c, root, err, errlen);
	json_decref(root);
	return ret;
}

static int absolutize(char *p, size_t size, const char *base, const char *what, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	if (p[0] == '/')
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s/%s", base, p) >= (int)size) {
		errf(err, errlen, "%s: path too long", what);
		return SBC_E_CONFIG;
	}
	set_str(p, size, tmp);
	return 0;
}

int ctl_config_finalize(ctl_config *c, char *err, size_t errlen)
{
	char cwd[PATH_MAX];
	int ret;

	if (!getcwd(cwd, sizeof(cwd))) {
		errf(err, errlen, "getcwd: %s", strerror(errno));
		return -errno;
	}
	if ((ret = absolutize(c->data_dir, sizeof(c->data_dir), cwd, "data_dir", err, errlen)))
		return ret;
	if (!c->store_path[0] &&
	    snprintf(c->store_path, sizeof(c->store_path), "%s/store", c->data_dir) >= (int)sizeof(c->store_path)) {
		errf(err, errlen, "store_path: path too long");
		return SBC_E_CONFIG;
	}
	if ((ret = absolutize(c->store_path, sizeof(c->store_path), cwd, "store_path", err, errlen)))
		return ret;
	if (!c->control.socket[0]) {
		if (snprintf(c->control.socket, sizeof(c->control.socket), "%s/control.sock", c->data_dir) >=
		    (int)sizeof(c->control.socket)) {
			errf(err, errlen, "control.socket: path too long");
			return SBC_E_CONFIG;
		}
	} else if ((ret = absolutize(c->control.socket, sizeof(c->control.socket), cwd, "control.socket",
				     err, errlen)))
		return ret;
	/* sockaddr_un.sun_path is 108 bytes. */
	if (strlen(c->control.socket) >= 108) {
		errf(err, errlen, "control.socket: \"%s\" is longer than a Unix socket path may be (107)",
		     c->control.socket);
		return SBC_E_CONFIG;
	}
	if (c->media.port_min >= c->media.port_max) {
		errf(err, errlen, "media.port_min: %u must be below media.port_max (%u)", c->media.port_min,
		     c->media.port_max);
		return SBC_E_CONFIG;
	}
	if (c->control.backoff_initial_ms > c->control.backoff_max_ms) {
		errf(err, errlen, "control.backoff_initial_ms: %u exceeds control.backoff_max_ms (%u)",
		     c->control.backoff_initial_ms, c->control.backoff_max_ms);
		return SBC_E_CONFIG;
	}
	unsigned s = c->signal.workers, m = c->media.workers;
	if (2 * (s + m + s * m) > SHM_MAX_RINGS) {
		errf(err, errlen, "signal.workers: %u signal x %u media workers need more than %d rings", s, m,
		     SHM_MAX_RINGS);
		return SBC_E_CONFIG;
	}
	for (unsigned i = 0; i < c->signal.nlisten; i++)
		for (unsigned j = 0; j < i; j++)
			if (strcmp(c->signal.listen[i].transport, c->signal.listen[j].transport) == 0 &&
			    strcmp(c->signal.listen[i].address, c->signal.listen[j].address) == 0) {
				errf(err, errlen, "signal.listen[%u]: duplicates signal.listen[%u] (%s %s)", i, j,
				     c->signal.listen[i].transport, c->signal.listen[i].address);
				return SBC_E_CONFIG;
			}
	return 0;
}

json_t *ctl_config_runtime_json(const ctl_config *c)
{
	json_t *listen = json_array();
	for (unsigned i = 0; i < c->signal.nlisten; i++) {
		const ctl_listen *l = &c->signal.listen[i];
		json_t *o = json_pack("{s:s, s:s}", "transport", l->transport, "address", l->address);
		if (l->tls_profile[0])
			json_object_set_new(o, "tls_profile", json_string(l->tls_profile));
		json_array_append_new(listen, o);
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:{s:I, s:o}, s:{s:I, s:s, s:I, s:I, s:s, s:I}}",
			      "log_level", c->log_level, "data_dir", c->data_dir, "store_path", c->store_path,
			      "signal", "workers", (json_int_t)c->signal.workers, "listen", listen,
			      "media", "workers", (json_int_t)c->media.workers, "address", c->media.address,
			      "port_min", (json_int_t)c->media.port_min, "port_max", (json_int_t)c->media.port_max,
			      "backend", c->media.backend, "rtp_timeout_ms", (json_int_t)c->media.rtp_timeout_ms);
	if (o)
		json_object_set_new(json_object_get(o, "signal"), "unknown_sources",
				    json_string(c->signal.unknown_sources));
	if (o && c->signal.dns_servers[0])
		json_object_set_new(json_object_get(o, "signal"), "dns_servers", json_string(c->signal.dns_servers));
	if (o && c->media.xdp_interfaces[0])
		json_object_set_new(json_object_get(o, "media"), "xdp_interfaces",
				    json_string(c->media.xdp_interfaces));
	return o;
}

int ctl_config_write_runtime(const ctl_config *c, const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 8];
	json_t *o = ctl_config_runtime_json(c);
	int ret = 0, fd = -1;
	char *text = NULL;

	if (!o) {
		errf(err, errlen, "runtime.json: cannot build");
		return -ENOMEM;
	}
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		ret = -errno;
		errf(err, errlen, "open(%s): %s", tmp, strerror(errno));
		goto Exit;
	}
	size_t len = strlen(text), done = 0;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = -errno;
			errf(err, errlen, "write(%s): %s", tmp, strerror(errno));
			goto Exit;
		}
		done += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		ret = -errno;
		errf(err, errlen, "write(%s): %s", tmp, strerror(errno));
		goto Exit;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		errf(err, errlen, "rename(%s): %s", path, strerror(errno));
	}
Exit:
	if (fd >= 0)
		close(fd);
	if (ret)
		unlink(tmp);
	free(text);
	return ret;
}
