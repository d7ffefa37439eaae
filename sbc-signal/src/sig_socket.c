/* sbc-signal — socket creation helpers. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sbc/log.h"
#include "sig_worker.h"

/* A listening (TCP/TLS) or bound (UDP) socket with SO_REUSEPORT, non-blocking. */
int sig_socket_listen(int tp, const sbc_addr *a, int *fd_out)
{
	int type = tp == SIG_TP_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(a->sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto Fail;
	if (a->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &a->sa, sbc_addr_len(a)) < 0)
		goto Fail;
	if (type == SOCK_STREAM) {
		/* wake up for a connection only once it has sent something (a
		 * ClientHello, a SIP request): silent connections cost no accept */
		int defer = 5;
		setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
		/* accepted connections inherit TCP_NODELAY from the listener
		 * (Linux copies it at accept): no setsockopt per connection */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (listen(fd, 4096) < 0)
			goto Fail;
	} else {
		int sz = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	*fd_out = fd;
	return 0;
Fail:;
	int e = -errno;
	close(fd);
	return e;
}

void sig_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			SBC_INFO("open files limit raised from %lu to %lu", (unsigned long)old,
				 (unsigned long)rl.rlim_max);
	}
}
