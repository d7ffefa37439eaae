#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "sbc/err.h"
#include "config.h"

static int get_uint(json_t *obj, const char *key, unsigned long min, unsigned long max,
		    unsigned long *out, char *errbuf, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 1; /* absent: keep default */
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    json_integer_value(v) > (json_int_t)max) {
		snprintf(errbuf, errlen, "media.%s must be an integer in %lu..%lu", key, min, max);
		return SBC_E_CONFIG;
	}
	*out = (unsigned long)json_integer_value(v);
	return 0;
}

int med_config_load(const char *path, med_config *cfg, char *errbuf, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *media, *v;
	unsigned long u;
	int ret = SBC_E_CONFIG, r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = SBC_LOG_INFO;
	cfg->workers = 1;
	sbc_addr_parse("127.0.0.1", 0, &cfg->address);
	cfg->port_min = 30000;
	cfg->port_max = 39999;
	cfg->rtp_timeout_ms = 30000;
	snprintf(cfg->backend, sizeof(cfg->backend), "socket");
	cfg->rcvbuf = 64 * 1024; /* per port: ~80 packets of backlog, no bufferbloat */

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(errbuf, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return SBC_E_CONFIG;
	}
	if (!json_is_object(root)) {
		snprintf(errbuf, errlen, "%s: top level must be an object", path);
		goto Exit;
	}
	if ((v = json_object_get(root, "log_level")) != NULL) {
		if (!json_is_string(v) || sbc_log_level_parse(json_string_value(v), &cfg->log_level)) {
			snprintf(errbuf, errlen, "log_level must be error|warn|notice|info|debug");
			goto Exit;
		}
	}
	media = json_object_get(root, "media");
	if (media && !json_is_object(media)) {
		snprintf(errbuf, errlen, "media must be an object");
		goto Exit;
	}
	if (media) {
		const char *key;
		json_t *val;
		json_object_foreach(media, key, val) {
			if (strcmp(key, "workers") && strcmp(key, "address") && strcmp(key, "port_min") &&
			    strcmp(key, "port_max") && strcmp(key, "backend") &&
			    strcmp(key, "rtp_timeout_ms") && strcmp(key, "rcvbuf") &&
			    strcmp(key, "xdp_interfaces")) {
				snprintf(errbuf, errlen, "media.%s: unknown key", key);
				goto Exit;
			}
		}
		if ((r = get_uint(media, "workers", 1, 32, &u, errbuf, errlen)) < 0)
			goto Exit;
		if (r == 0)
			cfg->workers = (unsigned)u;
		if ((r = get_uint(media, "port_min", 1024, 65535, &u, errbuf, errlen)) < 0)
			goto Exit;
		if (r == 0)
			cfg->port_min = (uint16_t)u;
		if ((r = get_uint(media, "port_max", 1024, 65535, &u, errbuf, errlen)) < 0)
			goto Exit;
		if (r == 0)
			cfg->port_max = (uint16_t)u;
		if ((r = get_uint(media, "rtp_timeout_ms", 100, 86400000, &u, errbuf, errlen)) < 0)
			goto Exit;
		if (r == 0)
			cfg->rtp_timeout_ms = (uint32_t)u;
		if ((r = get_uint(media, "rcvbuf", 4096, 64 << 20, &u, errbuf, errlen)) < 0)
			goto Exit;
		if (r == 0)
			cfg->rcvbuf = (uint32_t)u;
		if ((v = json_object_get(media, "address")) != NULL) {
			if (!json_is_string(v) || sbc_addr_parse(json_string_value(v), 0, &cfg->address)) {
				snprintf(errbuf, errlen, "media.address must be a literal IPv4/IPv6 address");
				goto Exit;
			}
			sbc_addr_set_port(&cfg->address, 0);
		}
		if ((v = json_object_get(media, "backend")) != NULL) {
			if (!json_is_string(v) || (strcmp(json_string_value(v), "socket") != 0 &&
						    strcmp(json_string_value(v), "xdp") != 0)) {
				snprintf(errbuf, errlen, "media.backend must be \"socket\" or \"xdp\"");
				goto Exit;
			}
			snprintf(cfg->backend, sizeof(cfg->backend), "%s", json_string_value(v));
		}
		if ((v = json_object_get(media, "xdp_interfaces")) != NULL && json_is_string(v)) {
			/* sbc-control's form: "eth0,eth1" */
			char list[128], *save = NULL, *tok;
			snprintf(list, sizeof(list), "%s", json_string_value(v));
			for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
				if (cfg->n_xdp_ifs == MED_CFG_XDP_IFS || strlen(tok) >= sizeof(cfg->xdp_ifs[0]) ||
				    strchr(tok, '/')) {
					snprintf(errbuf, errlen, "media.xdp_interfaces: \"%s\" is not an interface name "
						 "(at most %d, comma-separated)", tok, MED_CFG_XDP_IFS);
					goto Exit;
				}
				snprintf(cfg->xdp_ifs[cfg->n_xdp_ifs++], sizeof(cfg->xdp_ifs[0]), "%s", tok);
			}
		} else if (v) {
			size_t i;
			json_t *e;
			if (!json_is_array(v) || json_array_size(v) > MED_CFG_XDP_IFS) {
				snprintf(errbuf, errlen, "media.xdp_interfaces must be a list of at most %d interface names",
					 MED_CFG_XDP_IFS);
				goto Exit;
			}
			json_array_foreach(v, i, e) {
				const char *name = json_string_value(e);
				if (!name || !name[0] || strlen(name) >= sizeof(cfg->xdp_ifs[0]) || strchr(name, '/')) {
					snprintf(errbuf, errlen, "media.xdp_interfaces[%zu] must be an interface name", i);
					goto Exit;
				}
				snprintf(cfg->xdp_ifs[cfg->n_xdp_ifs++], sizeof(cfg->xdp_ifs[0]), "%s", name);
			}
		}
	}
	if (cfg->port_max < cfg->port_min + 3) {
		snprintf(errbuf, errlen, "media.port_min..port_max must span at least 4 ports");
		goto Exit;
	}
	ret = 0;
Exit:
	json_decref(root);
	return ret;
}
