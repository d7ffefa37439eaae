#!/usr/bin/env bash
# Runs each benchmark in turn; each prints its own figures.
set -u
rc=0
for b in "$@"; do
	echo "=== $(basename "$b")"
	"$b" || { echo "bench $(basename "$b") failed (rc=$?)"; rc=1; }
done
exit $rc
