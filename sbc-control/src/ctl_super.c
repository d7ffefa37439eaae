/* sbc-control — child supervision: spawn, watch, back off, stop. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "ctl_bus.h"
#include "ctl_super.h"

#define SUPER_RUNNING_AFTER_MS 1000
#define SUPER_MAX_FDS (1 + 2 * SHM_MAX_WORKERS)

enum child_state {
	CHILD_STOPPED = 0,
	CHILD_STARTING,
	CHILD_RUNNING,
	CHILD_BACKOFF,
	CHILD_FAILED,
};

static const char *const state_names[] = {"stopped", "starting", "running", "backoff", "failed"};

typedef struct super_child {
	ctl_super *super;
	const char *name;      /* "sbc-signal" */
	enum shm_role role;
	const char *path;      /* RO: executable */
	pid_t pid;             /* 0 when not running */
	enum child_state state;
	unsigned restarts;     /* respawns after a death */
	unsigned quick_deaths; /* in a row, before stable_ms of uptime */
	uint64_t started_ms;
	char last_exit[48];
	bool planned;          /* stopped on purpose (reload): respawn at once */
	uv_timer_t timer;      /* backoff restart, starting -> running */
} super_child;

struct ctl_super {
	ctl_ctx *ctx;
	super_child child[2]; /* [0] signal, [1] media */
	uv_signal_t sigchld;
	uv_timer_t deadline;  /* shutdown: TERM media at half, KILL at the end */
	bool stopping;
	bool half_done;
	ctl_super_stopped_cb stopped_cb;
	unsigned open_handles;
};

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* In the forked child: only async-signal-safe calls from here to exec. */
static void __attribute__((noreturn)) child_exec(const char *path, char *const argv[], const int *keep,
						   unsigned nkeep, pid_t parent)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Die with sbc-control: a kill -9 of the parent leaves no orphans. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(126);
	/* Close everything above stderr except the doorbells. */
	unsigned first = 3;
	for (unsigned i = 0; i < nkeep; i++) {
		if ((unsigned)keep[i] > first)
			close_range(first, (unsigned)keep[i] - 1, 0);
		if ((unsigned)keep[i] + 1 > first)
			first = (unsigned)keep[i] + 1;
	}
	close_range(first, ~0u, 0);
	execv(path, argv);
	static const char msg[] = "sbc-control: exec of child failed\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	_exit(127);
}

static void set_state(super_child *c, enum child_state st) { c->state = st; }

static void running_cb(uv_timer_t *t)
{
	super_child *c = t->data;
	if (c->state == CHILD_STARTING)
		set_state(c, CHILD_RUNNING);
}

static int spawn(super_child *c)
{
	ctl_ctx *ctx = c->super->ctx;
	char shm_name[SHM_NAME_LEN];
	int keep[SUPER_MAX_FDS];
	unsigned nkeep;
	pid_t pid, parent = getpid();

	snprintf(shm_name, sizeof(shm_name), "%s", ctl_bus_name(ctx->bus));
	char *const argv[] = {(char *)c->path, (char *)"--shm", shm_name, (char *)"--runtime", ctx->runtime_path,
			      NULL};
	nkeep = ctl_bus_inherit_fds(ctx->bus, keep, SUPER_MAX_FDS);
	qsort(keep, nkeep, sizeof(int), cmp_int);
	ctl_bus_child_reset(ctx->bus, c->role);

	/* Block every signal across fork: one arriving in the child before it
	 * resets the handlers would run libuv's handler there (and be lost);
	 * blocked, it stays pending until the child restored the defaults. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(c->path, argv, keep, nkeep, parent);
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		SBC_ERROR("fork for %s: %s", c->name, strerror(fork_errno));
		return -fork_errno;
	}
	c->pid = pid;
	c->started_ms = sbc_mono_ms();
	set_state(c, CHILD_STARTING);
	ctl_bus_child_alive(ctx->bus, c->role, true);
	SBC_NOTICE("started %s (pid %d): %s --shm %s --runtime %s", c->name, (int)pid, c->path, shm_name,
		   ctx->runtime_path);
	uv_timer_start(&c->timer, running_cb, SUPER_RUNNING_AFTER_MS, 0);
	return 0;
}

static void restart_cb(uv_timer_t *t)
{
	super_child *c = t->data;
	if (c->state != CHILD_BACKOFF || c->super->stopping)
		return;
	c->restarts++;
	if (spawn(c) != 0) {
		/* fork failed: try again later, counted as a quick death. */
		c->quick_deaths++;
		set_state(c, CHILD_BACKOFF);
		uv_timer_start(&c->timer, restart_cb, c->super->ctx->cfg.control.backoff_max_ms, 0);
	}
}

static void kill_child(super_child *c, int sig)
{
	if (c->pid > 0 && kill(c->pid, sig) < 0 && errno != ESRCH)
		SBC_WARN("kill(%s pid %d, %d): %s", c->name, (int)c->pid, sig, strerror(errno));
}

static void check_stopped(ctl_super *s)
{
	if (!s->stopping || s->child[0].pid > 0 || s->child[1].pid > 0)
		return;
	uv_timer_stop(&s->deadline);
	if (s->stopped_cb) {
		ctl_super_stopped_cb cb = s->stopped_cb;
		s->stopped_cb = NULL;
		cb(s->ctx);
	}
}

static void child_died(super_child *c, int status)
{
	ctl_super *s = c->super;
	const ctl_config *cfg = &s->ctx->cfg;
	uint64_t lived = sbc_mono_ms() - c->started_ms;

	if (WIFEXITED(status))
		snprintf(c->last_exit, sizeof(c->last_exit), "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(c->last_exit, sizeof(c->last_exit), "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(c->last_exit, sizeof(c->last_exit), "status %#x", status);
	pid_t pid = c->pid;
	c->pid = 0;
	uv_timer_stop(&c->timer);
	ctl_bus_child_alive(s->ctx->bus, c->role, false);
	/* Its calls ended with it, whatever the cause: their records are ended
	 * now, before a successor is spawned below or by the backoff timer. */
	char why[128];
	snprintf(why, sizeof(why), "%s exited (%s%s%s): call state lost", c->name,
		 s->stopping ? "shutdown, " : c->planned ? "restart, " : "",
		 WIFSIGNALED(status) ? "killed by " : "", c->last_exit);
	ctl_bus_child_exited(s->ctx->bus, c->role, pid, why);

	if (s->stopping) {
		SBC_NOTICE("%s stopped (%s)", c->name, c->last_exit);
		set_state(c, CHILD_STOPPED);
		if (c->role == SHM_ROLE_SIGNAL)
			kill_child(&s->child[1], SIGTERM);
		check_stopped(s);
		return;
	}
	if (c->planned) {
		c->planned = false;
		SBC_NOTICE("%s stopped for a restart (%s); starting it again", c->name, c->last_exit);
		c->restarts++;
		if (spawn(c) == 0)
			return;
		/* fork failed: fall through to the back-off path */
	}
	if (lived >= cfg->control.stable_ms)
		c->quick_deaths = 0;
	c->quick_deaths++;
	if (c->quick_deaths > cfg->control.restart_max) {
		set_state(c, CHILD_FAILED);
		SBC_ERROR("%s died (%s) after %llu ms; %u quick deaths in a row: giving up (state failed; "
			  "system.reload retries)", c->name, c->last_exit, (unsigned long long)lived,
			  c->quick_deaths);
		return;
	}
	uint64_t delay = cfg->control.backoff_initial_ms;
	for (unsigned i = 1; i < c->quick_deaths && delay < cfg->control.backoff_max_ms; i++)
		delay *= 2;
	if (delay > cfg->control.backoff_max_ms)
		delay = cfg->control.backoff_max_ms;
	SBC_WARN("%s died (%s) after %llu ms; restarting in %llu ms", c->name, c->last_exit,
		 (unsigned long long)lived, (unsigned long long)delay);
	set_state(c, CHILD_BACKOFF);
	uv_timer_start(&c->timer, restart_cb, delay, 0);
}

static void sigchld_cb(uv_signal_t *h, int signum)
{
	ctl_super *s = h->data;
	for (unsigned i = 0; i < 2; i++) {
		super_child *c = &s->child[i];
		int status;
		if (c->pid <= 0)
			continue;
		pid_t r = waitpid(c->pid, &status, WNOHANG);
		if (r == c->pid)
			child_died(c, status);
	}
}

static void hello_cb(void *arg, enum shm_role role, unsigned idx, pid_t pid)
{
	ctl_super *s = arg;
	super_child *c = &s->child[role == SHM_ROLE_SIGNAL ? 0 : 1];
	SBC_INFO("%s worker %u (pid %d) said hello", c->name, idx, (int)pid);
	if (c->state == CHILD_STARTING)
		set_state(c, CHILD_RUNNING);
}

static void handle_close_cb(uv_handle_t *h)
{
	ctl_super *s = h->data;
	if (--s->open_handles == 0)
		free(s);
}

int ctl_super_create(ctl_ctx *ctx, ctl_super **out)
{
	ctl_super *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ctx = ctx;
	const char *paths[2] = {ctx->signal_bin, ctx->media_bin};
	const char *names[2] = {"sbc-signal", "sbc-media"};
	for (unsigned i = 0; i < 2; i++) {
		super_child *c = &s->child[i];
		c->super = s;
		c->name = names[i];
		c->role = i == 0 ? SHM_ROLE_SIGNAL : SHM_ROLE_MEDIA;
		c->path = paths[i];
		uv_timer_init(ctx->loop, &c->timer);
		c->timer.data = c;
	}
	uv_timer_init(ctx->loop, &s->deadline);
	s->deadline.data = s;
	uv_signal_init(ctx->loop, &s->sigchld);
	s->sigchld.data = s;
	uv_signal_start(&s->sigchld, sigchld_cb, SIGCHLD);
	ctl_bus_set_hello_cb(ctx->bus, hello_cb, s);
	*out = s;
	return 0;
}

int ctl_super_start(ctl_super *s)
{
	for (unsigned i = 0; i < 2; i++) {
		super_child *c = &s->child[i];
		if (access(c->path, X_OK) != 0)
			SBC_WARN("%s: %s is not executable (%s); it will be retried with back-off", c->name, c->path,
				 strerror(errno));
		int ret = spawn(c);
		if (ret)
			return ret;
	}
	return 0;
}

unsigned ctl_super_revive(ctl_super *s)
{
	unsigned n = 0;
	if (s->stopping)
		return 0;
	for (unsigned i = 0; i < 2; i++) {
		super_child *c = &s->child[i];
		if (c->state != CHILD_FAILED)
			continue;
		c->quick_deaths = 0;
		c->restarts++;
		if (spawn(c) == 0)
			n++;
	}
	return n;
}

int ctl_super_restart(ctl_super *s, enum shm_role role)
{
	super_child *c = &s->child[role == SHM_ROLE_SIGNAL ? 0 : 1];
	if (s->stopping)
		return SBC_E_STATE;
	if (c->pid > 0) {
		c->planned = true;
		if (role == SHM_ROLE_SIGNAL)
			ctl_bus_drain(s->ctx->bus, s->ctx->cfg.control.drain_ms);
		kill_child(c, SIGTERM);
		return 0;
	}
	/* backoff or failed: start it now */
	uv_timer_stop(&c->timer);
	c->quick_deaths = 0;
	c->restarts++;
	return spawn(c);
}

static void deadline_cb(uv_timer_t *t)
{
	ctl_super *s = t->data;
	if (!s->half_done) {
		s->half_done = true;
		if (s->child[0].pid > 0)
			SBC_WARN("sbc-signal still draining; stopping sbc-media anyway");
		kill_child(&s->child[1], SIGTERM);
		uv_timer_start(&s->deadline, deadline_cb, s->ctx->cfg.control.stop_timeout_ms / 2, 0);
		return;
	}
	for (unsigned i = 0; i < 2; i++)
		if (s->child[i].pid > 0) {
			SBC_WARN("%s (pid %d) did not stop within %u ms: SIGKILL", s->child[i].name, (int)s->child[i].pid,
				 s->ctx->cfg.control.stop_timeout_ms);
			kill_child(&s->child[i], SIGKILL);
		}
}

void ctl_super_stop(ctl_super *s, ctl_super_stopped_cb cb)
{
	if (s->stopping)
		return;
	s->stopping = true;
	s->stopped_cb = cb;
	for (unsigned i = 0; i < 2; i++) {
		super_child *c = &s->child[i];
		uv_timer_stop(&c->timer);
		if (c->pid <= 0)
			set_state(c, CHILD_STOPPED);
	}
	if (s->child[0].pid > 0) {
		unsigned n = ctl_bus_drain(s->ctx->bus, s->ctx->cfg.control.drain_ms);
		SBC_NOTICE("stopping: DRAIN sent to %u signal worker(s), SIGTERM to sbc-signal", n);
		kill_child(&s->child[0], SIGTERM);
	} else {
		kill_child(&s->child[1], SIGTERM);
	}
	uv_timer_start(&s->deadline, deadline_cb, s->ctx->cfg.control.stop_timeout_ms / 2, 0);
	check_stopped(s);
}

void ctl_super_destroy(ctl_super *s)
{
	if (!s)
		return;
	s->open_handles = 4;
	uv_close((uv_handle_t *)&s->child[0].timer, handle_close_cb);
	uv_close((uv_handle_t *)&s->child[1].timer, handle_close_cb);
	uv_close((uv_handle_t *)&s->deadline, handle_close_cb);
	uv_close((uv_handle_t *)&s->sigchld, handle_close_cb);
	s->child[0].timer.data = s->child[1].timer.data = s;
}

json_t *ctl_super_status_json(ctl_super *s)
{
	json_t *arr = json_array();
	uint64_t now = sbc_mono_ms();
	for (unsigned i = 0; i < 2; i++) {
		super_child *c = &s->child[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", c->name, "path", c->path, "state",
				      state_names[c->state], "restarts", (json_int_t)c->restarts, "quick_deaths",
				      (json_int_t)c->quick_deaths);
		json_object_set_new(o, "pid", c->pid > 0 ? json_integer(c->pid) : json_null());
		json_object_set_new(o, "uptime_s",
				    json_real(c->pid > 0 ? (double)(now - c->started_ms) / 1000.0 : 0.0));
		json_object_set_new(o, "last_exit", c->last_exit[0] ? json_string(c->last_exit) : json_null());
		json_array_append_new(arr, o);
	}
	return arr;
}
