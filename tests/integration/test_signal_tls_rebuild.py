"""tools/boringssl-rebuild.sh: its build options are checked before anything
is fetched or built (no network, no compiler run beyond `cc -dM -E`, fast).
A -march level whose instructions this CPU lacks must be refused: the
library it would build dies with SIGILL on the machine that runs it. The
cache is taken only for the same options (for -march, the same resolved
target), and a failed rebuild leaves the previous build usable."""
import os
import re
import subprocess

import pytest

from conftest import REPO

SCRIPT = REPO / "tools" / "boringssl-rebuild.sh"

# -march level -> /proc/cpuinfo flags it needs that some x86-64 CPUs lack
CANDIDATES = (
    ("x86-64-v4", ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd")),
    ("znver3", ("sse4a", "clzero")),
    ("sapphirerapids", ("amx_tile", "avx512_fp16")),
    ("x86-64-v3", ("avx2", "bmi2", "fma", "movbe")),
)
# the compiler's macro for each flag (a level is used only when the compiler
# sets the macro of every flag this CPU lacks: then the script must see it)
MACRO = {"avx512f": "__AVX512F__", "avx512bw": "__AVX512BW__", "avx512vl": "__AVX512VL__",
         "avx512dq": "__AVX512DQ__", "avx512cd": "__AVX512CD__", "sse4a": "__SSE4A__",
         "clzero": "__CLZERO__", "amx_tile": "__AMX_TILE__", "avx512_fp16": "__AVX512FP16__",
         "avx2": "__AVX2__", "bmi2": "__BMI2__", "fma": "__FMA__", "movbe": "__MOVBE__"}


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def run(outdir, **opts):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BORINGSSL_")}
    env.update(opts)
    # a check that wrongly passes would go on to fetch: the timeout bounds it
    return subprocess.run([str(SCRIPT), str(outdir)], env=env, capture_output=True, text=True,
                          timeout=60)


def compilers():
    """The C compilers the script can use (it needs the C++ twin too)."""
    return [c for c, cxx in (("gcc", "g++"), ("clang", "clang++"))
            if subprocess.run(["sh", "-c", f"command -v {c} && command -v {cxx}"],
                              capture_output=True).returncode == 0]


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_march_the_cpu_lacks_is_refused(tmp_path, cc):
    if cc not in compilers():
        pytest.skip(f"{cc} not installed")
    have = cpu_flags()
    for march, needs in CANDIDATES:
        lacks = [f for f in needs if f not in have]
        r = subprocess.run([cc, f"-march={march}", "-dM", "-E", "-x", "c", "/dev/null"],
                           capture_output=True, text=True)
        if lacks and r.returncode == 0 and all(f"#define {MACRO[f]} 1" in r.stdout for f in lacks):
            break
    else:
        pytest.skip("this CPU has every candidate level's features")
    r = run(tmp_path / "out", BORINGSSL_CC=cc, BORINGSSL_MARCH=march)
    assert r.returncode != 0
    # named by the compiler's macro for each (what the script compares)
    assert "lacks" in r.stderr and all(MACRO[f] in r.stderr for f in lacks), r.stderr
    assert not (tmp_path / "out" / "download").exists()  # nothing fetched


def test_bad_options_are_refused(tmp_path):
    for opts, word in (({"BORINGSSL_OPT": "-O9"}, "BORINGSSL_OPT"),
                       ({"BORINGSSL_CC": "tcc"}, "BORINGSSL_CC"),
                       ({"BORINGSSL_MARCH": "no-such-cpu", "BORINGSSL_CC": (compilers() or ["gcc"])[0]},
                        "does not know"),
                       ({"BORINGSSL_MARCH": "native -fplugin=x"}, "not a CPU name")):
        r = run(tmp_path / "out", **opts)
        assert r.returncode != 0 and word in r.stderr, (opts, r.stderr)
    assert not (tmp_path / "out" / "download").exists()


def debian_version():
    return subprocess.run(["dpkg-query", "-W", "-f=${source:Version}", "android-libboringssl"],
                          capture_output=True, text=True).stdout.strip()


def fake_build(out, stamp, ver):
    """OUTDIR as an earlier run left it: lib/ with a stamp (None: an older
    script's, without one), the source tree of that build, include -> its
    headers, and a fetched source package that is bogus (so a rebuild stops
    at dpkg-source, before any compiling: offline and fast)."""
    (out / "lib").mkdir(parents=True)
    (out / "src" / "src" / "include" / "openssl").mkdir(parents=True)
    (out / "src" / "debian").mkdir()
    (out / "src" / "debian" / "libcrypto.mk").write_text("# fake\n")
    os.symlink(out / "src" / "src" / "include", out / "include")
    for f in ("libcrypto.so.0", "libssl.so.0"):
        (out / "lib" / f).write_bytes(b"")
    if stamp is not None:
        (out / "lib" / "build-options").write_text(stamp + "\n")
        (out / "src" / ".build-options").write_text(stamp + "\n")
    (out / "download").mkdir()
    ver = ver.split(":", 1)[-1]
    (out / "download" / f"android-platform-external-boringssl_{ver}.dsc").write_text("bogus\n")


def test_cached_build_is_kept_only_for_the_same_options(tmp_path):
    """A directory holding a build of the same options is taken at once; one
    of other options is not (the script goes on to unpack and build: here a
    bogus source package stops it at dpkg-source, before any compiling), and
    that failed attempt leaves the old build whole: lib/, include/openssl
    (the headers boringssl.mk points at) and its source tree."""
    ver = debian_version()
    if not ver:
        pytest.skip("android-libboringssl not installed")
    out = tmp_path / "out"
    cc = (compilers() or ["gcc"])[0]
    fake_build(out, f"cc={cc} opt=-O3 march=default", ver)
    r = run(out, BORINGSSL_CC=cc, BORINGSSL_OPT="-O3")
    assert r.returncode == 0, r.stderr
    mk = (out / "boringssl.mk").read_text()
    assert f"options: cc={cc} opt=-O3 march=default" in mk and f"BORINGSSL_LIB := {out}/lib" in mk
    # other options: not the cache; the (fake) fetched source is unpacked
    r = run(out, BORINGSSL_CC=cc, BORINGSSL_OPT="-O2")
    assert r.returncode != 0 and "dpkg-source -x failed" in r.stderr, r.stderr
    assert "not of" in r.stderr, r.stderr
    assert (out / "lib" / "libcrypto.so.0").exists()  # the old build stays until a new one is done
    assert (out / "include" / "openssl").is_dir()  # and so do the headers it was built from
    assert (out / "src" / "debian" / "libcrypto.mk").exists()
    assert not (out / "src.new").exists()
    # the old build is still the cache for its own options
    r = run(out, BORINGSSL_CC=cc, BORINGSSL_OPT="-O3")
    assert r.returncode == 0, r.stderr


def test_unstamped_build_is_not_the_cache(tmp_path):
    """A build an older script left without build-options is of unknown
    compiler and flags: no request takes it, the default one included."""
    ver = debian_version()
    if not ver:
        pytest.skip("android-libboringssl not installed")
    out = tmp_path / "out"
    fake_build(out, None, ver)
    r = run(out)
    assert r.returncode != 0 and "dpkg-source -x failed" in r.stderr, r.stderr
    assert "'unknown'" in r.stderr, r.stderr
    assert (out / "include" / "openssl").is_dir()


def isa_macros(cc, march):
    """The instruction-set macros (upper-case names defined to 1) cc sets for
    -march=march, or None when cc does not know the level."""
    r = subprocess.run([cc, f"-march={march}", "-dM", "-E", "-x", "c", "/dev/null"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return {m.group(1) for m in re.finditer(r"^#define (__[A-Z0-9_]*) 1$", r.stdout, re.M)
            if not m.group(1).startswith(("__FLT", "__DBL", "__LDBL"))}


# the list of macros the script checked before it compared with -march=native
OLD_LIST = {"__SSE3__", "__SSSE3__", "__SSE4_1__", "__SSE4_2__", "__POPCNT__", "__AVX__", "__AVX2__",
            "__BMI__", "__BMI2__", "__FMA__", "__F16C__", "__LZCNT__", "__MOVBE__", "__ADX__", "__AES__",
            "__PCLMUL__", "__SHA__", "__AVX512F__", "__AVX512BW__", "__AVX512VL__", "__AVX512DQ__",
            "__AVX512CD__", "__AVX512IFMA__", "__AVX512VBMI__", "__AVX512VNNI__", "__AVX512BF16__",
            "__AVX512FP16__", "__VAES__", "__VPCLMULQDQ__", "__GFNI__", "__RDSEED__", "__SSE4A__",
            "__CLZERO__", "__AMX_TILE__"}
LEVELS = ("skylake-avx512", "cascadelake", "cooperlake", "icelake-client", "icelake-server", "tigerlake",
          "rocketlake", "alderlake", "sapphirerapids", "x86-64-v4", "znver2", "znver3", "znver4",
          "goldmont-plus", "tremont", "haswell", "broadwell")


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_march_beyond_the_old_list_is_refused(tmp_path, cc):
    """A level whose only extensions this CPU lacks are ones a hand-kept
    list missed (PKU, SGX, KL, WAITPKG, ...): taken from the compiler's own
    macro difference against -march=native, so it must be refused too."""
    if cc not in compilers():
        pytest.skip(f"{cc} not installed")
    native = isa_macros(cc, "native")
    assert native, f"{cc} -march=native failed"
    for march in LEVELS:
        level = isa_macros(cc, march)
        lacks = level - native if level is not None else set()
        if lacks and not lacks & OLD_LIST:
            break
    else:
        pytest.skip("no level here lacks only extensions the old list knew of")
    r = run(tmp_path / "out", BORINGSSL_CC=cc, BORINGSSL_MARCH=march)
    assert r.returncode != 0
    assert "lacks" in r.stderr and all(m in r.stderr for m in lacks), (march, r.stderr)
    assert not (tmp_path / "out" / "download").exists()  # nothing fetched


def test_native_build_of_another_cpu_is_not_the_cache(tmp_path):
    """-march=native means the CPU that built it: a build stamped with
    another CPU's macro hash (a copied build directory) is rebuilt, one
    stamped with this CPU's is taken."""
    ver = debian_version()
    if not ver:
        pytest.skip("android-libboringssl not installed")
    cc = (compilers() or ["gcc"])[0]
    out = tmp_path / "out"
    fake_build(out, f"cc={cc} opt=-O2 march=native isa=0123456789abcdef", ver)
    r = run(out, BORINGSSL_CC=cc, BORINGSSL_MARCH="native")
    assert r.returncode != 0 and "dpkg-source -x failed" in r.stderr, r.stderr
    m = re.search(r"not of '(cc=\S+ opt=-O2 march=native isa=[0-9a-f]{16})'", r.stderr)
    assert m and "0123456789abcdef" not in m.group(1), r.stderr
    (out / "lib" / "build-options").write_text(m.group(1) + "\n")
    r = run(out, BORINGSSL_CC=cc, BORINGSSL_MARCH="native")
    assert r.returncode == 0, r.stderr
    assert f"options: {m.group(1)}" in (out / "boringssl.mk").read_text()


def test_lto_and_pgo_options_are_checked(tmp_path):
    """BORINGSSL_LTO takes 1 or 0; BORINGSSL_PGO takes generate or use:DIR
    with counters in DIR, and gcc only (the counters are gcc's .gcda format):
    anything else is refused before anything is fetched."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for opts, word in (({"BORINGSSL_LTO": "yes"}, "BORINGSSL_LTO"),
                       ({"BORINGSSL_PGO": "train"}, "BORINGSSL_PGO"),
                       ({"BORINGSSL_PGO": "use:", "BORINGSSL_CC": "gcc"}, "BORINGSSL_PGO"),
                       ({"BORINGSSL_PGO": f"use:{empty}", "BORINGSSL_CC": "gcc"}, "no .gcda"),
                       ({"BORINGSSL_PGO": "generate", "BORINGSSL_CC": "clang"}, "needs BORINGSSL_CC=gcc")):
        r = run(tmp_path / "out", **opts)
        assert r.returncode != 0 and word in r.stderr, (opts, r.stderr)
    assert not (tmp_path / "out" / "download").exists()


def test_pgo_build_is_the_cache_only_for_its_counters(tmp_path):
    """A profile-guided build is stamped with a hash of the counters it was
    built from: the same counters take it, other counters (a new training
    run) rebuild; LTO is part of the stamp too."""
    ver = debian_version()
    if not ver:
        pytest.skip("android-libboringssl not installed")
    if "gcc" not in compilers():
        pytest.skip("gcc not installed")
    prof = tmp_path / "prof"
    prof.mkdir()
    (prof / "src#crypto#mem.gcda").write_bytes(b"counters one")
    out = tmp_path / "out"
    fake_build(out, "cc=gcc opt=-O3 march=default lto=1 pgo=0123456789abcdef", ver)
    opts = {"BORINGSSL_CC": "gcc", "BORINGSSL_OPT": "-O3", "BORINGSSL_LTO": "1",
            "BORINGSSL_PGO": f"use:{prof}"}
    r = run(out, **opts)
    assert r.returncode != 0 and "dpkg-source -x failed" in r.stderr, r.stderr
    m = re.search(r"not of '(cc=gcc opt=-O3 march=default lto=1 pgo=[0-9a-f]{16})'", r.stderr)
    assert m and "0123456789abcdef" not in m.group(1), r.stderr
    # the copy the build reads is the one hashed (made before the stamp)
    assert (out / "profile-used" / "src#crypto#mem.gcda").read_bytes() == b"counters one"
    (out / "lib" / "build-options").write_text(m.group(1) + "\n")
    r = run(out, **opts)
    assert r.returncode == 0, r.stderr
    # new counters: not the cache
    (prof / "src#crypto#mem.gcda").write_bytes(b"counters two")
    r = run(out, **opts)
    assert r.returncode != 0 and "not of" in r.stderr, r.stderr
    # the same counters without LTO: not the cache either
    (prof / "src#crypto#mem.gcda").write_bytes(b"counters one")
    r = run(out, **{**opts, "BORINGSSL_LTO": "0"})
    assert r.returncode != 0 and "not of" in r.stderr, r.stderr
