#!/usr/bin/env bash
# Runs each benchmark in turn; each prints its own figures. A benchmark is a
# binary, or a python script run with Debian's python3 (not a pyenv shim).
set -u
rc=0
for b in "$@"; do
	echo "=== $(basename "$b")"
	case "$b" in
	*.py) /usr/bin/python3 "$b" ;;
	*) "$b" ;;
	esac || { echo "bench $(basename "$b") failed (rc=$?)"; rc=1; }
done
exit $rc
