/* sbc-control — its configuration: the embedded default, the operator's
 * file through the shared loader (shared/src/config.c), paths, runtime.json. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbc/config.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "ctl_config.h"

static void set_str(char *dst, size_t size, const char *src) { snprintf(dst, size, "%s", src); }

void ctl_config_defaults(ctl_config *c)
{
	/* The table's defaults, plus what only the embedded default has: the
	 * loopback listeners and the demo trunks. */
	sbc_config_defaults(c);
	c->signal.nlisten = 3;
	c->signal.listen[0] = (ctl_listen){"udp", "127.0.0.1:5060", ""};
	c->signal.listen[1] = (ctl_listen){"tcp", "127.0.0.1:5060", ""};
	c->signal.listen[2] = (ctl_listen){"tls", "127.0.0.1:5061", "default"};
	c->demo.enabled = true;
}

/* A file turns the demo off unless it says demo.enabled (the table's
 * default is the one with a file); on error c stays as it was. */
static int from_file(ctl_config *c, json_t *root, const char *path, char *err, size_t errlen)
{
	bool demo = c->demo.enabled;
	int ret;
	c->demo.enabled = false;
	if (path)
		ret = sbc_config_load_file(c, path, SBC_CFG_CONTROL, err, errlen);
	else
		ret = sbc_config_apply_json(c, root, SBC_CFG_CONTROL, err, errlen);
	if (ret)
		c->demo.enabled = demo;
	else
		c->from_file = true;
	return ret;
}

int ctl_config_apply_json(ctl_config *c, json_t *root, char *err, size_t errlen)
{
	return from_file(c, root, NULL, err, errlen);
}

int ctl_config_load_file(ctl_config *c, const char *path, char *err, size_t errlen)
{
	return from_file(c, NULL, path, err, errlen);
}

static int absolutize(char *p, size_t size, const char *base, const char *what, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	if (p[0] == '/')
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s/%s", base, p) >= (int)size) {
		sbc_errf(err, errlen, "%s: path too long", what);
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
		sbc_errf(err, errlen, "getcwd: %s", strerror(errno));
		return -errno;
	}
	if ((ret = absolutize(c->data_dir, sizeof(c->data_dir), cwd, "data_dir", err, errlen)))
		return ret;
	if (!c->store_path[0] &&
	    snprintf(c->store_path, sizeof(c->store_path), "%s/store", c->data_dir) >= (int)sizeof(c->store_path)) {
		sbc_errf(err, errlen, "store_path: path too long");
		return SBC_E_CONFIG;
	}
	if ((ret = absolutize(c->store_path, sizeof(c->store_path), cwd, "store_path", err, errlen)))
		return ret;
	if (!c->control.socket[0]) {
		if (snprintf(c->control.socket, sizeof(c->control.socket), "%s/control.sock", c->data_dir) >=
		    (int)sizeof(c->control.socket)) {
			sbc_errf(err, errlen, "control.socket: path too long");
			return SBC_E_CONFIG;
		}
	} else if ((ret = absolutize(c->control.socket, sizeof(c->control.socket), cwd, "control.socket",
				     err, errlen)))
		return ret;
	/* sockaddr_un.sun_path is 108 bytes. */
	if (strlen(c->control.socket) >= 108) {
		sbc_errf(err, errlen, "control.socket: \"%s\" is longer than a Unix socket path may be (107)",
		     c->control.socket);
		return SBC_E_CONFIG;
	}
	return sbc_config_check(c, SBC_CFG_CONTROL, err, errlen);
}

json_t *ctl_config_runtime_json(const ctl_config *c) { return sbc_config_runtime_json(c); }

int ctl_config_write_runtime(const ctl_config *c, const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 8];
	json_t *o = ctl_config_runtime_json(c);
	int ret = 0, fd = -1;
	char *text = NULL;

	if (!o) {
		sbc_errf(err, errlen, "runtime.json: cannot build");
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
		sbc_errf(err, errlen, "open(%s): %s", tmp, strerror(errno));
		goto Exit;
	}
	size_t len = strlen(text), done = 0;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = -errno;
			sbc_errf(err, errlen, "write(%s): %s", tmp, strerror(errno));
			goto Exit;
		}
		done += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		ret = -errno;
		sbc_errf(err, errlen, "write(%s): %s", tmp, strerror(errno));
		goto Exit;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		sbc_errf(err, errlen, "rename(%s): %s", path, strerror(errno));
	}
Exit:
	if (fd >= 0)
		close(fd);
	if (ret)
		unlink(tmp);
	free(text);
	return ret;
}
