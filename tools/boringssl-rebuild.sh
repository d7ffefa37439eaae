#!/usr/bin/env bash
# boringssl-rebuild.sh OUTDIR — rebuild Debian's BoringSSL without -DOPENSSL_SMALL.
#
# Debian's android-platform-external-boringssl is compiled with -DOPENSSL_SMALL
# (debian/rules), which in BoringSSL compiles out the x86_64 P-256 assembly
# (p256-nistz) and the precomputed X25519/Ed25519 base-point tables: ECDHE and
# ECDSA run 2-3x slower than they could. This script fetches Debian's own source
# package (the same version as the installed android-libboringssl, through apt
# but without touching the system's apt configuration), unpacks it with
# dpkg-source (Debian's patches applied), and builds libcrypto.so.0/libssl.so.0
# with Debian's makefiles (debian/libcrypto.mk, debian/libssl.mk) and Debian's
# hardening flags, dropping only -DOPENSSL_SMALL.
#
# Result:  OUTDIR/lib/{libcrypto,libssl}.so{,.0}   OUTDIR/include (copy of the package's headers)
#          OUTDIR/boringssl.mk                      (make fragment: BORINGSSL_INC/LIB)
# Cached: nothing is fetched or built again once OUTDIR/lib holds both libraries
# built with the same options (OUTDIR/lib/build-options; a directory without it
# is rebuilt; delete OUTDIR to start over). A build of other options happens in
# OUTDIR/src.new and replaces lib/, include/ and src/ only when it succeeded.
# Exit 0 on success; otherwise says why and exits non-zero (benchmarks then
# skip their "rebuilt" rows).
#
# Options (environment), all off by default:
#   BORINGSSL_OPT=-O3        optimisation level instead of Debian's -O2
#   BORINGSSL_MARCH=LEVEL    -march=LEVEL (x86-64-v3, native, ...): code for this
#                            CPU generation and newer only. The library is meant to
#                            be built on the machine that runs it; a LEVEL for
#                            which the compiler predefines an instruction-set
#                            macro that -march=native does not is refused (the
#                            library would die with SIGILL), and the stamp holds
#                            a hash of the level's macros (a native build from
#                            another CPU is no cache hit).
#   BORINGSSL_CC=gcc|clang   compiler (default: clang when installed, else gcc)
#   BORINGSSL_LTO=1          link-time optimisation (gcc -flto; clang -flto=thin)
#   BORINGSSL_PGO=generate   gcc only: an instrumented build (-fprofile-generate)
#                            that writes its counters under OUTDIR/profile when a
#                            process using it exits (run a handshake workload
#                            against an sbc-signal loading it, then stop it)
#   BORINGSSL_PGO=use:DIR    gcc only: profile-guided build from the counters in
#                            DIR (a generate build's OUTDIR/profile, copied: the
#                            stamp holds their hash, so new counters rebuild)
# Debian's hardening flags stay in every case. Measured (README.md): gcc -O3
# takes the X25519 share (fiat-crypto C: no assembly in this BoringSSL) from
# ~57 to ~51 us, with or without -march=x86-64-v3; clang -O3 -march=x86-64-v3
# and gcc -O2 stay at ~57; P-256 runs on BoringSSL's own assembly either way.
# On top of gcc -O3, the library's own CPU per full TLS 1.3 server handshake
# (bench_signal_tls --hs-only, 12 interleaved runs, paired medians; ECDSA /
# mutual TLS verified each time): LTO 1.01x / 1.03x less, a profile alone
# 1.01x / 1.02x, LTO with the profile 1.06x / 1.06x (100.7 -> 94.8 us,
# 259 -> 245 us; runs 1.02-1.09x): what they buy is in libssl and the
# non-public-key libcrypto code (message and X.509 parsing, hashing glue,
# malloc calls), which the profile lets LTO inline across files. The
# profile: BORINGSSL_PGO=generate into one OUTDIR, run sbc-signal on it
# through full ECDSA, RSA, mutual-TLS and resumed handshakes and stop it
# (bench_signal_tls does this for its tuned build), then BORINGSSL_PGO=use:
# that OUTDIR/profile into another.
set -eu
out=${1:?usage: boringssl-rebuild.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
pkg=android-platform-external-boringssl
jobs=${BORINGSSL_JOBS:-2}

write_mk() {
	cat >"$out/boringssl.mk.tmp" <<-EOF
	# written by tools/boringssl-rebuild.sh: BoringSSL rebuilt without -DOPENSSL_SMALL
	# options: $stamp
	BORINGSSL_INC := $out/include
	BORINGSSL_LIB := $out/lib
	EOF
	mv "$out/boringssl.mk.tmp" "$out/boringssl.mk"
}

# --- options ---------------------------------------------------------------------
opt=${BORINGSSL_OPT:-}
march=${BORINGSSL_MARCH:-}
cc=${BORINGSSL_CC:-}
lto=${BORINGSSL_LTO:-}
pgo=${BORINGSSL_PGO:-}
case "$opt" in ""|-O2|-O3|-Os) ;; *) echo "boringssl-rebuild: BORINGSSL_OPT=$opt: use -O2, -O3 or -Os" >&2; exit 1 ;; esac
case "$cc" in
"") if command -v clang >/dev/null && command -v clang++ >/dev/null; then cc=clang; else cc=gcc; fi ;;
gcc|clang) ;;
*) echo "boringssl-rebuild: BORINGSSL_CC=$cc: use gcc or clang" >&2; exit 1 ;;
esac
cxx=$([ "$cc" = clang ] && echo clang++ || echo g++)
case "$lto" in ""|0) lto="" ;; 1) ;; *) echo "boringssl-rebuild: BORINGSSL_LTO=$lto: use 1 or 0" >&2; exit 1 ;; esac
pgo_dir=""
case "$pgo" in
"") ;;
generate) ;;
use:?*)
	pgo_dir=${pgo#use:}
	[ -d "$pgo_dir" ] && [ -n "$(find "$pgo_dir" -name '*.gcda' -print -quit)" ] ||
		{ echo "boringssl-rebuild: BORINGSSL_PGO=$pgo: no .gcda counters in $pgo_dir" >&2; exit 1; }
	pgo_dir=$(cd "$pgo_dir" && pwd)
	;;
*) echo "boringssl-rebuild: BORINGSSL_PGO=$pgo: use generate or use:DIR" >&2; exit 1 ;;
esac
[ -z "$pgo" ] || [ "$cc" = gcc ] || { echo "boringssl-rebuild: BORINGSSL_PGO needs BORINGSSL_CC=gcc" >&2; exit 1; }
command -v "$cc" >/dev/null && command -v "$cxx" >/dev/null ||
	{ echo "boringssl-rebuild: $cc/$cxx not installed" >&2; exit 1; }
# a CPU name (it lands in CFLAGS unquoted): letters, digits, '.', '-', '_' only
[[ "$march" =~ ^[a-z0-9._-]*$ ]] || { echo "boringssl-rebuild: BORINGSSL_MARCH=$march: not a CPU name" >&2; exit 1; }
isa=""
if [ -n "$march" ]; then
	# What the compiler predefines for LEVEL against what it predefines for
	# this very CPU (-march=native): every instruction-set macro (an
	# upper-case name defined to 1, e.g. __AVX2__, __PKU__, __WIDEKL__) the
	# level sets and native does not names an extension this CPU lacks
	# (the library would die with SIGILL). Lower-case names (__tigerlake__,
	# __tune_*__) are CPU names and tuning, not instructions; the __FLT*
	# family only follows __AVX512FP16__. No hand-kept list to fall behind.
	defs=$("$cc" -march="$march" -dM -E -x c /dev/null 2>/dev/null) ||
		{ echo "boringssl-rebuild: $cc does not know -march=$march" >&2; exit 1; }
	native=$("$cc" -march=native -dM -E -x c /dev/null 2>/dev/null) ||
		{ echo "boringssl-rebuild: $cc -march=native fails: cannot check -march=$march" >&2; exit 1; }
	isa_macros() { sed -n 's/^#define \(__[A-Z0-9_]*\) 1$/\1/p' | grep -v '^__\(FLT\|DBL\|LDBL\)' | sort -u; }
	lack=$(comm -23 <(isa_macros <<<"$defs") <(isa_macros <<<"$native") | tr '\n' ' ')
	[ -z "$lack" ] || { echo "boringssl-rebuild: -march=$march needs CPU features this machine lacks: $lack" >&2; exit 1; }
	# The target actually compiled for, in the stamp: LEVEL alone would let
	# a native build made on another CPU (or by another compiler version)
	# pass for this one.
	isa=" isa=$(sort <<<"$defs" | sha256sum | cut -c1-16)"
fi
# what the libraries in OUTDIR were built with: a different request rebuilds
stamp="cc=$cc opt=${opt:--O2} march=${march:-default}$isa${lto:+ lto=1}"
# the counters a profile-guided build used, by content: other counters
# rebuild. The build reads a copy, made first and hashed: DIR may be the
# generate build's OUTDIR/profile, which its next run (or this OUTDIR's
# next generate build) replaces, so a hash of DIR taken before a later copy
# could name counters other than those built from.
case "$pgo" in
generate) stamp="$stamp pgo=generate" ;;
use:*)
	if [ "$pgo_dir" != "$out/profile-used" ]; then
		rm -rf "$out/profile-used.tmp" && cp -a "$pgo_dir" "$out/profile-used.tmp" &&
			rm -rf "$out/profile-used" && mv "$out/profile-used.tmp" "$out/profile-used" ||
			{ echo "boringssl-rebuild: cannot copy $pgo_dir to $out/profile-used" >&2; exit 1; }
	fi
	stamp="$stamp pgo=$( (cd "$out/profile-used" && find . -name '*.gcda' -type f | LC_ALL=C sort |
		xargs sha256sum) | sha256sum | cut -c1-16)" ;;
esac

# A directory without a stamp (an older script's) is of unknown options:
# never taken for any request (its compiler cannot be proven), rebuilt.
have=$(cat "$out/lib/build-options" 2>/dev/null || echo unknown)
if [ -e "$out/lib/libcrypto.so.0" ] && [ -e "$out/lib/libssl.so.0" ] && [ -d "$out/include/openssl" ] &&
	[ "$have" = "$stamp" ]; then
	write_mk
	exit 0
fi
[ ! -e "$out/lib/libcrypto.so.0" ] || echo "boringssl-rebuild: $out/lib holds a build of '$have', not of '$stamp': rebuilding" >&2

for t in apt-get dpkg-source dpkg-buildflags dpkg-architecture make; do
	command -v "$t" >/dev/null || { echo "boringssl-rebuild: $t not found (install dpkg-dev/apt)" >&2; exit 1; }
done

# The installed binary package tells which source version to fetch, so the
# rebuilt libraries match the headers and ABI we already compile against.
ver=$(dpkg-query -W -f='${source:Version}' android-libboringssl 2>/dev/null || true)
[ -n "$ver" ] || { echo "boringssl-rebuild: android-libboringssl is not installed (make deps)" >&2; exit 1; }

# --- fetch (once) -------------------------------------------------------------
dl="$out/download"
mkdir -p "$dl"
dsc="$dl/${pkg}_${ver#*:}.dsc"
if [ ! -e "$dsc" ]; then
	apt_dir="$dl/apt"
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	# deb-src twins of the system's deb entries, in a private list directory.
	srcs=""
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] && srcs="$srcs$(sed 's/^Types:.*$/Types: deb-src/' "$f")"$'\n\n'
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] && srcs="$srcs$(sed -n 's/^deb /deb-src /p' "$f")"$'\n'
	done
	printf '%s' "$srcs" >"$apt_dir/src.sources"
	if grep -q '^deb-src ' "$apt_dir/src.sources"; then
		grep '^deb-src ' "$apt_dir/src.sources" >"$apt_dir/src.list"
		grep -v '^deb-src ' "$apt_dir/src.sources" >"$apt_dir/src.sources.tmp" || true
		mv "$apt_dir/src.sources.tmp" "$apt_dir/src.sources"
	fi
	aptopt=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir"
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
		-o "Debug::NoLocking=1" -o "APT::Sandbox::User=root" -q)
	echo "boringssl-rebuild: fetching Debian source $pkg $ver" >&2
	if ! apt-get "${aptopt[@]}" update >"$dl/apt-update.log" 2>&1; then
		echo "boringssl-rebuild: apt-get update (deb-src) failed, see $dl/apt-update.log" >&2; exit 1
	fi
	if ! (cd "$dl" && apt-get "${aptopt[@]}" source --download-only "$pkg=$ver") >"$dl/apt-source.log" 2>&1; then
		echo "boringssl-rebuild: apt-get source $pkg=$ver failed, see $dl/apt-source.log" >&2; exit 1
	fi
fi

# --- unpack (Debian's patches applied) ---------------------------------------
# A tree unpacked for these options (an earlier attempt) is built on; any
# other request unpacks into src.new and replaces src only after its build
# succeeded: a failed build leaves the previous lib/, include/ and src/ as
# they were (objects of other options are never linked in).
tree_for_stamp() { [ -e "$1/debian/libcrypto.mk" ] && [ "$(cat "$1/.build-options" 2>/dev/null)" = "$stamp" ]; }
srcdir="$out/src"
tree_for_stamp "$srcdir" || srcdir="$out/src.new"
if ! tree_for_stamp "$srcdir"; then
	rm -rf "$srcdir"
	# --no-check: the .dsc's uploader signature needs debian-keyring; the
	# files were already checked by apt against the signed archive index.
	dpkg-source --no-check -x "$dsc" "$srcdir" >"$dl/dpkg-source.log" 2>&1 ||
		{ echo "boringssl-rebuild: dpkg-source -x failed, see $dl/dpkg-source.log" >&2; rm -rf "$srcdir"; exit 1; }
fi

# --- build ----------------------------------------------------------------------
# Debian's flags from debian/rules, as dh_auto_build would export them, minus
# -DOPENSSL_SMALL. -Wl,-rpath,$ORIGIN comes before the rpath libssl.mk adds
# (/usr/lib/<triplet>/android), so our libssl finds our libcrypto first.
export DEB_BUILD_MAINT_OPTIONS="hardening=+all optimize=-lto"
export DEB_CFLAGS_MAINT_APPEND="-fPIC"
export DEB_CXXFLAGS_MAINT_APPEND="-fPIC"
export DEB_LDFLAGS_MAINT_APPEND="-fPIC"
export DEB_CPPFLAGS_MAINT_APPEND="-DNDEBUG -UDEBUG -DBORINGSSL_ANDROID_SYSTEM -DBORINGSSL_IMPLEMENTATION \
-DBORINGSSL_SHARED_LIBRARY -fmessage-length=0 -fno-exceptions -fno-strict-aliasing -no-canonical-prefixes"
export CC=$cc CXX=$cxx
if [ "$cc" = clang ]; then
	DEB_CFLAGS_MAINT_APPEND="$DEB_CFLAGS_MAINT_APPEND -gdwarf-4"
	DEB_CXXFLAGS_MAINT_APPEND="$DEB_CXXFLAGS_MAINT_APPEND -gdwarf-4"
fi
# appended after Debian's -O2, so the later option wins
tune="$opt${march:+ -march=$march}"
# Link-time optimisation and profiles: the libraries are linked by the
# compiler driver with LDFLAGS only (debian/lib*.mk), so whatever the link
# step must know (-flto, -O, libgcov for the counters) goes there too.
# Counter files are named by the object's path below the source tree
# (-fprofile-prefix-path), so the tree built from them may live elsewhere
# (src.new, src) than the instrumented one did.
# With LTO the library's exported functions (CBS_*/CBB_*, OPENSSL_malloc,
# the EVP calls libssl makes into libcrypto's own API) may be inlined and
# called directly inside the library only when they cannot be interposed:
# -fno-semantic-interposition, and -Bsymbolic-functions binds the calls the
# linker sees to the library's own definitions instead of PLT stubs.
ltoflags=""
if [ -n "$lto" ]; then
	if [ "$cc" = clang ]; then ltoflags="-flto=thin"; else ltoflags="-flto=$jobs"; fi
	ltoflags="$ltoflags -fno-semantic-interposition"
fi
pgoflags=""
case "$pgo" in
generate)
	# counters of an earlier instrumented build would not match this one's
	rm -rf "$out/profile"
	pgoflags="-fprofile-generate=$out/profile -fprofile-update=prefer-atomic -fprofile-prefix-path=$srcdir" ;;
use:*)
	# the copy made and hashed above. Counters of another source (a
	# Debian update since the training) are an error in gcc by default
	# (-Wcoverage-mismatch): those functions are built without the profile
	# instead, and the mismatch is reported after the build
	pgoflags="-fprofile-use=$out/profile-used -fprofile-partial-training -Wno-missing-profile -Wno-error=coverage-mismatch -fprofile-prefix-path=$srcdir" ;;
esac
tune="$tune${ltoflags:+ $ltoflags}"
if [ -n "$tune$pgoflags" ]; then
	DEB_CFLAGS_MAINT_APPEND="$DEB_CFLAGS_MAINT_APPEND $tune $pgoflags"
	DEB_CXXFLAGS_MAINT_APPEND="$DEB_CXXFLAGS_MAINT_APPEND $tune $pgoflags"
fi
if [ -n "$ltoflags$pgoflags" ]; then
	DEB_LDFLAGS_MAINT_APPEND="$DEB_LDFLAGS_MAINT_APPEND ${opt:--O2} $ltoflags $pgoflags${lto:+ -Wl,-Bsymbolic-functions}"
fi
# (lld cannot read gcc's LTO objects: gcc -flto links with its default linker)
if command -v ld.lld >/dev/null && ! { [ -n "$lto" ] && [ "$cc" = gcc ]; }; then
	DEB_LDFLAGS_MAINT_APPEND="$DEB_LDFLAGS_MAINT_APPEND -fuse-ld=lld -Wl,--build-id=sha1"
fi
eval "$(dpkg-buildflags --export=sh)"
eval "$(dpkg-architecture -s 2>/dev/null)"
export DEB_HOST_ARCH DEB_HOST_MULTIARCH
# (make expands $$ to $, the recipe's shell then sees \$ORIGIN: a literal $ORIGIN.)
export LDFLAGS="-Wl,-rpath,\\\$\$ORIGIN $LDFLAGS"
case " $CPPFLAGS $CFLAGS " in *OPENSSL_SMALL*) echo "boringssl-rebuild: OPENSSL_SMALL still set" >&2; exit 1 ;; esac

echo "boringssl-rebuild: building libcrypto/libssl ($stamp, -j$jobs) in $srcdir" >&2
log="$out/build.log"
echo "$stamp" >"$srcdir/.build-options"
if ! (cd "$srcdir" && make -j"$jobs" -f debian/libcrypto.mk build && make -j"$jobs" -f debian/libssl.mk build) >"$log" 2>&1; then
	echo "boringssl-rebuild: build failed, last lines of $log:" >&2; tail -n 20 "$log" >&2; exit 1
fi
if [ -n "$pgo_dir" ]; then
	nmis=$(grep -c 'Wcoverage-mismatch' "$log" || true)
	[ "$nmis" = 0 ] || echo "boringssl-rebuild: WARNING: the profile in $pgo_dir does not match this source" \
		"($nmis coverage-mismatch warnings in $log: trained on another version?): those functions are" \
		"built without it; train a new profile (BORINGSSL_PGO=generate) for its full effect" >&2
fi
# Proof the fast paths are in: the x86_64 P-256 method and the X25519
# base-point table exist only without OPENSSL_SMALL (the library keeps its
# local symbols: Debian strips only at packaging time).
so="$srcdir/debian/out/libcrypto.so.0"
[ -e "$so" ] && [ -e "$srcdir/debian/out/libssl.so.0" ] || { echo "boringssl-rebuild: libraries not built, see $log" >&2; exit 1; }
# (an LTO build keeps them under a local name: NAME.lto_priv.N, and the
# method only through its _init function)
if [ "$DEB_HOST_ARCH" = amd64 ] && ! nm "$so" | grep -Eq ' EC_GFp_nistz256_method(_init)?(\.lto_priv\.[0-9]+)?$'; then
	echo "boringssl-rebuild: $so lacks the P-256 assembly path (OPENSSL_SMALL?)" >&2; exit 1
fi
if ! nm "$so" | grep -Eq ' k25519Precomp(\.lto_priv\.[0-9]+)?$'; then
	echo "boringssl-rebuild: $so lacks the X25519 tables (OPENSSL_SMALL?)" >&2; exit 1
fi
if ! readelf -d "$srcdir/debian/out/libssl.so.0" | grep -q 'RUNPATH.*\[\$ORIGIN:'; then
	echo "boringssl-rebuild: libssl.so.0 does not look next to itself for libcrypto" >&2; exit 1
fi

# Install: the headers are copied (include/ no longer points into a source
# tree that a later attempt may replace), then lib/, then the new tree
# takes src/'s place.
rm -rf "$out/include.tmp" "$out/lib.tmp"
cp -a "$srcdir/src/include" "$out/include.tmp"
mkdir -p "$out/lib.tmp"
cp -a "$srcdir/debian/out/libcrypto.so.0" "$srcdir/debian/out/libssl.so.0" "$out/lib.tmp/"
ln -sf libcrypto.so.0 "$out/lib.tmp/libcrypto.so"
ln -sf libssl.so.0 "$out/lib.tmp/libssl.so"
echo "$stamp" >"$out/lib.tmp/build-options"
rm -rf "$out/include" && mv "$out/include.tmp" "$out/include"
rm -rf "$out/lib" && mv "$out/lib.tmp" "$out/lib"
if [ "$srcdir" != "$out/src" ]; then
	rm -rf "$out/src" && mv "$srcdir" "$out/src"
fi
write_mk
echo "boringssl-rebuild: done: $out/lib" >&2
