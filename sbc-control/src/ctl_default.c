/* sbc-control — seeding the embedded default (see ctl_default.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/store.h"
#include "ctl_default.h"
#include "ctl_tls_check.h"

static int seed_tls(ctl_ctx *ctx, const char *name, char *err, size_t errlen)
{
	store_tls_profile p;
	int ret;

	store_tls_init(&p, name);
	ret = store_tls_get(ctx->rd, name, &p);
	store_tls_clear(&p);
	if (ret == 0)
		return 0;
	if (ret != SBC_E_NOT_FOUND) {
		snprintf(err, errlen, "reading TLS profile %s: %s", name, sbc_strerror(ret));
		return ret;
	}
	if (strcmp(name, "default") != 0) {
		SBC_WARN("a TLS listener names profile \"%s\", which does not exist yet: add it with tls.add", name);
		return 0;
	}
	static const char *const hosts[] = {"localhost", "127.0.0.1", "::1"};
	store_tls_init(&p, name);
	ret = ctl_tls_make_self_signed(&p, hosts, 3, err, errlen);
	if (ret == 0)
		ret = store_tls_put(ctx->st, &p, true, err, errlen);
	store_tls_clear(&p);
	if (ret < 0) {
		SBC_WARN("no self-signed certificate for TLS profile \"default\": %s", err);
		return 0; /* sbc-signal reports its TLS listener; the rest works */
	}
	SBC_NOTICE("made a self-signed ECDSA certificate: TLS profile \"default\"");
	return 0;
}

static int put_trunk(ctl_ctx *ctx, const char *json, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(json, 0, &je);
	store_trunk *t = malloc(sizeof(*t));
	int ret;
	if (!o || !t) {
		json_decref(o);
		free(t);
		snprintf(err, errlen, "demo trunk: %s", o ? "out of memory" : je.text);
		return SBC_E_INVAL;
	}
	ret = store_trunk_from_json(o, t, false, err, errlen);
	if (ret == 0)
		ret = store_trunk_put(ctx->st, t, true, err, errlen);
	json_decref(o);
	free(t);
	return ret;
}

static int seed_demo(ctl_ctx *ctx, char *err, size_t errlen)
{
	store_trunk t1;
	store_route r1;
	bool more = false;
	char json[1024];
	int ret;

	if (store_trunk_list(ctx->rd, NULL, &t1, 1, &more) != 0 || store_route_list(ctx->rd, NULL, NULL, &r1, 1, &more) != 0)
		return 0; /* not empty: the operator's */

	snprintf(json, sizeof(json),
		 "{\"name\":\"demo-in\",\"cidrs\":[\"%s\"],"
		 "\"srtp_inbound\":{\"mode\":\"optional\"},\"srtp_outbound\":{\"mode\":\"optional\"}}",
		 ctx->cfg.demo.inbound_cidr);
	if ((ret = put_trunk(ctx, json, err, errlen)) < 0)
		return ret;
	sbc_addr out;
	char ip[INET6_ADDRSTRLEN + 1];
	if (sbc_addr_parse(ctx->cfg.demo.outbound, 5080, &out) != 0) {
		snprintf(err, errlen, "demo.outbound: \"%s\" is not an address:port", ctx->cfg.demo.outbound);
		return SBC_E_CONFIG;
	}
	sbc_addr_format_ip(&out, ip, sizeof(ip));
	snprintf(json, sizeof(json),
		 "{\"name\":\"demo-out\",\"destinations\":[{\"host\":\"%s\",\"port\":%u,\"transport\":\"udp\"}],"
		 "\"srtp_inbound\":{\"mode\":\"off\"},\"srtp_outbound\":{\"mode\":\"off\"}}",
		 ip, (unsigned)sbc_addr_port(&out));
	if ((ret = put_trunk(ctx, json, err, errlen)) < 0)
		return ret;
	memset(&r1, 0, sizeof(r1));
	r1.trunk[0] = 0;
	snprintf(r1.trunk, sizeof(r1.trunk), "demo-out");
	r1.priority = STORE_ROUTE_DEFAULT_PRIORITY;
	r1.weight = STORE_ROUTE_DEFAULT_WEIGHT;
	if ((ret = store_route_add(ctx->st, &r1, err, errlen)) < 0)
		return ret;
	SBC_NOTICE("empty store: added demo trunks demo-in (from %s, SRTP optional), demo-out (to %s udp, SRTP off) "
		   "and the default route to demo-out", ctx->cfg.demo.inbound_cidr, ctx->cfg.demo.outbound);
	return 0;
}

int ctl_default_seed(ctl_ctx *ctx, char *err, size_t errlen)
{
	int ret;
	for (unsigned i = 0; i < ctx->cfg.signal.nlisten; i++) {
		const ctl_listen *l = &ctx->cfg.signal.listen[i];
		if (l->tls_profile[0] && (ret = seed_tls(ctx, l->tls_profile, err, errlen)) < 0)
			return ret;
	}
	if (ctx->cfg.demo.enabled && (ret = seed_demo(ctx, err, errlen)) < 0)
		return ret;
	return 0;
}
