#!/usr/bin/env bash
# Runs the integration tests with Debian's python3 and pytest (not a pyenv shim).
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
args=(-q -rs tests/integration)
if $PY -c 'import xdist' 2>/dev/null; then args+=(-n "${PYTEST_WORKERS:-2}"); fi
$PY -m pytest "${args[@]}" "$@"
rc=$?
# pytest exits 5 when it collected nothing; that is a failure of the suite here.
exit $rc
