#!/usr/bin/env bash
# Runs every unit-test binary under BUILDDIR/tests/unit (or those matching a glob).
# Exit status 77 means skipped. Prints "N passed, N failed, N skipped".
set -u
dir="$1/tests/unit"
glob="${2:-*}"
pass=0 fail=0 skip=0 failed=()
while IFS= read -r t; do
	name=$(basename "$t")
	[[ "$name" == $glob ]] || continue
	log="$1/tests/logs/$name.log"
	mkdir -p "$(dirname "$log")"
	start=$EPOCHREALTIME
	"$t" >"$log" 2>&1
	rc=$?
	el=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
	case $rc in
	0) pass=$((pass+1)); echo "  PASS $name (${el}s)";;
	77) skip=$((skip+1)); echo "  SKIP $name: $(tail -n1 "$log")";;
	*) fail=$((fail+1)); failed+=("$name"); echo "  FAIL $name (rc=$rc)"; tail -n 30 "$log" | sed 's/^/    | /';;
	esac
done < <(find "$dir" -maxdepth 1 -type f -executable -name 'test_*' | sort)
echo "unit: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
