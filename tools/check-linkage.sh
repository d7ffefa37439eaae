#!/usr/bin/env bash
# Fails when a binary links both BoringSSL and OpenSSL's libssl.so.3/libcrypto.so.3.
set -eu
bad=0
for b in "$@"; do
	libs=$(ldd "$b")
	if grep -q 'android/libcrypto' <<<"$libs" && grep -Eq 'libssl\.so\.3|libcrypto\.so\.3' <<<"$libs"; then
		echo "linkage: $b links BoringSSL and OpenSSL together" >&2; bad=1
	fi
done
[ $bad -eq 0 ] && echo "linkage: no binary mixes BoringSSL and OpenSSL"
exit $bad
