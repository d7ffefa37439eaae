/* sbc-signal — shared store handle (see sig_store.h). */
#include "sig_store.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static store *g_store;

store *sig_store_get(const char *path)
{
	store *s;
	if (!path || !path[0])
		return NULL;
	pthread_mutex_lock(&g_mu);
	if (!g_store && store_open(path, STORE_RDONLY, 0, &g_store, NULL, 0) < 0)
		g_store = NULL;
	s = g_store;
	pthread_mutex_unlock(&g_mu);
	return s;
}

void sig_store_close(void)
{
	pthread_mutex_lock(&g_mu);
	if (g_store)
		store_close(g_store);
	g_store = NULL;
	pthread_mutex_unlock(&g_mu);
}
