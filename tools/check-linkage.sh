#!/usr/bin/env bash
# Fails when a binary links both BoringSSL (libcrypto.so.0) and OpenSSL's
# libssl.so.3/libcrypto.so.3, or when BORINGSSL_LIB is set and a binary's
# BoringSSL is not resolved from that directory (BORINGSSL=rebuilt builds).
set -eu
bad=0
want=${BORINGSSL_LIB:-}
for b in "$@"; do
	libs=$(ldd "$b")
	grep -q 'libcrypto\.so\.0 ' <<<"$libs" || continue
	if grep -Eq 'libssl\.so\.3|libcrypto\.so\.3' <<<"$libs"; then
		echo "linkage: $b links BoringSSL and OpenSSL together" >&2; bad=1
	fi
	if [ -n "$want" ]; then
		got=$(awk '$1 ~ /^lib(crypto|ssl)\.so\.0$/ {print $3}' <<<"$libs")
		for g in $got; do
			[ "$(dirname "$g")" = "$want" ] && continue
			echo "linkage: $b takes BoringSSL from $g, not $want" >&2; bad=1
		done
	fi
done
[ $bad -eq 0 ] && echo "linkage: no binary mixes BoringSSL and OpenSSL${want:+; BoringSSL from $want}"
exit $bad
