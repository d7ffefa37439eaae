/* sbc-signal — outbound sends: RFC 3263 targets tried in order, TCP/TLS
 * connections reused per (transport, address), the next target taken when
 * a connection cannot be opened. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sig_dns.h"
#include "sig_worker.h"

typedef struct sig_out_job {
	sig_worker *w;
	sig_send_cb cb;
	void *arg;
	char profile[SIG_NAME_MAX];
	char server_name[256];
	sig_target t[SIG_DNS_MAX_TARGETS];
	unsigned n, next;
	int last_err;
	size_t len;
	char msg[];
} sig_out_job;

static void job_done(sig_out_job *j, int status, const sig_target *t, sig_conn_id conn)
{
	if (j->cb)
		j->cb(j->arg, status, t ? (enum sig_tp)t->tp : SIG_TP_UDP, t ? &t->addr : NULL, conn);
	free(j);
}

/* Tries targets from j->next on; either hands the job to a connection that
 * is being opened (it comes back through sig_out_conn_opened/failed) or
 * finishes it. */
static void job_try(sig_out_job *j)
{
	sig_worker *w = j->w;
	while (j->next < j->n) {
		const sig_target *t = &j->t[j->next++];
		if (t->tp == SIG_TP_UDP) {
			int r = sig_udp_send(w, &t->addr, j->msg, j->len);
			if (r == 0) {
				job_done(j, 0, t, 0);
				return;
			}
			j->last_err = r;
			continue;
		}
		sig_conn *c = sig_conn_find_out(w, (enum sig_tp)t->tp, &t->addr);
		if (c && c->state == SIG_CS_OPEN) {
			int r = sig_conn_send(c, j->msg, j->len);
			if (r == 0) {
				job_done(j, 0, t, sig_conn_id_of(c));
				return;
			}
			j->last_err = r;
			continue;
		}
		if (c && c->job) { /* being opened for another send: queue behind it */
			int r = sig_conn_send(c, j->msg, j->len);
			job_done(j, r, t, r == 0 ? sig_conn_id_of(c) : 0);
			return;
		}
		if (!c)
			c = sig_conn_connect(w, (enum sig_tp)t->tp, &t->addr, j->profile,
					     j->server_name[0] ? j->server_name : NULL);
		if (!c) {
			j->last_err = SBC_E_CLOSED;
			continue;
		}
		int r = sig_conn_send(c, j->msg, j->len); /* queued until open */
		if (r < 0) {
			j->last_err = r;
			continue;
		}
		c->job = j;
		return;
	}
	job_done(j, j->last_err ? j->last_err : SBC_E_NOT_FOUND, NULL, 0);
}

void sig_out_conn_opened(sig_conn *c)
{
	sig_out_job *j = c->job;
	if (!j)
		return;
	c->job = NULL;
	job_done(j, 0, &j->t[j->next - 1], sig_conn_id_of(c));
}

void sig_out_conn_failed(sig_conn *c)
{
	sig_out_job *j = c->job;
	if (!j)
		return;
	c->job = NULL;
	j->last_err = SBC_E_CLOSED;
	if (c->w->stopping) {
		job_done(j, SBC_E_CLOSED, NULL, 0);
		return;
	}
	job_try(j);
}

static sig_out_job *job_new(sig_worker *w, const char *profile, const char *server_name,
			    const void *buf, size_t len, sig_send_cb cb, void *arg)
{
	sig_out_job *j = calloc(1, sizeof(*j) + len);
	if (!j)
		return NULL;
	j->w = w;
	j->cb = cb;
	j->arg = arg;
	snprintf(j->profile, sizeof(j->profile), "%s", profile ? profile : "default");
	snprintf(j->server_name, sizeof(j->server_name), "%s", server_name ? server_name : "");
	j->len = len;
	memcpy(j->msg, buf, len);
	return j;
}

int sig_send_targets(sig_worker *w, const sig_target *t, unsigned n, const char *profile,
		     const char *server_name, const void *buf, size_t len, sig_send_cb cb, void *arg)
{
	sig_out_job *j = job_new(w, profile, server_name, buf, len, cb, arg);
	if (!j)
		return -ENOMEM;
	if (n > SIG_DNS_MAX_TARGETS)
		n = SIG_DNS_MAX_TARGETS;
	memcpy(j->t, t, n * sizeof(*t));
	j->n = n;
	job_try(j);
	return 0;
}

static void resolved_cb(void *arg, int status, const sig_target *t, unsigned n)
{
	sig_out_job *j = arg;
	if (status < 0) {
		job_done(j, status, NULL, 0);
		return;
	}
	memcpy(j->t, t, n * sizeof(*t));
	j->n = n;
	job_try(j);
}

int sig_send_uri(sig_worker *w, const sig_dest *dst, const void *buf, size_t len, sig_send_cb cb,
		 void *arg)
{
	if (!w->dns) {
		int r = sig_dns_create(&w->loop, w->srv->cfg.dns_servers[0] ? w->srv->cfg.dns_servers : NULL,
				       &w->dns);
		if (r < 0)
			return r;
	}
	sig_out_job *j = job_new(w, dst->profile, dst->server_name ? dst->server_name : dst->host, buf,
				 len, cb, arg);
	if (!j)
		return -ENOMEM;
	int r = sig_dns_resolve(w->dns, dst->host, dst->port, dst->tp, dst->secure, resolved_cb, j);
	if (r < 0)
		free(j);
	return r;
}

void sig_out_destroy(sig_worker *w)
{
	if (w->dns) {
		sig_dns_destroy(w->dns);
		w->dns = NULL;
	}
}
