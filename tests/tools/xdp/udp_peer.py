#!/usr/bin/python3
"""UDP peer for the AF_XDP namespace tests; run inside a namespace with
`ip netns exec NS python3 udp_peer.py ...`.

  recv BIND COUNT TIMEOUT      print "READY", then one JSON line:
                               {"got": [[src, payload_hex], ...]} after COUNT
                               datagrams or TIMEOUT seconds of silence
  send BIND DEST COUNT SIZE TAG  send COUNT datagrams of SIZE bytes from BIND
                               to DEST; payload i = TAG + i as 6 digits + fill
  sendraw BIND DEST HEX        send one datagram with these bytes

Addresses: "ip:port" or "[v6]:port".
"""
import json
import socket
import sys


def addr(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, int(port))


def payload(tag, i, size):
    head = ("%s%06d" % (tag, i)).encode()
    fill = bytes((i + k) & 0xff for k in range(max(0, size - len(head))))
    return head + fill


def main():
    cmd = sys.argv[1]
    fam, bind = addr(sys.argv[2])
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(bind)
    if cmd == "recv":
        count, timeout = int(sys.argv[3]), float(sys.argv[4])
        s.settimeout(timeout)
        print("READY", flush=True)
        got = []
        while len(got) < count:
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                break
            h = src[0] if fam == socket.AF_INET else "[%s]" % src[0]
            got.append(["%s:%d" % (h, src[1]), data.hex()])
        print(json.dumps({"got": got}), flush=True)
    elif cmd == "send":
        _, dest = addr(sys.argv[3])
        count, size, tag = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        for i in range(count):
            s.sendto(payload(tag, i, size), dest)
    elif cmd == "sendraw":
        _, dest = addr(sys.argv[3])
        s.sendto(bytes.fromhex(sys.argv[4]), dest)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
