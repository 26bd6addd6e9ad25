#!/usr/bin/env bash
# C ABI test suite: builds the library, compiles every test against
# include/chunkgroup.h and build/libchunkgroup.so with strict warnings, runs
# them plainly, with GODEBUG=cgocheck=1, against a GOEXPERIMENT=cgocheck2 build, and under valgrind (memcheck, with
# a Go runtime built with -tags valgrind; see valgrind.supp), compiles a C++17
# translation unit, and builds and runs the C examples (also against an
# installed copy found with pkg-config, and under valgrind).
#
# Prints "C tests: N passed, M failed" and exits non-zero on any failure.
# CG_NO_VALGRIND=1 skips the valgrind runs (say so when you use it).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
GO=${GO:-go}
CC=${CC:-cc}
CXX=${CXX:-c++}
OUT=$ROOT/build/ctest
mkdir -p "$OUT"
passed=0
failed=0
failures=()

fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }
pass() { passed=$((passed + 1)); }

make -s lib || { echo "C tests: 0 passed, 1 failed (make lib)"; exit 1; }
# The soname and the exported symbols, as the Makefile builds them.
ABI=$(sed -n 's/^#define CG_ABI_VERSION *\([0-9]*\).*/\1/p' include/chunkgroup.h)
SONAME=libchunkgroup.so.$ABI
LDEXTRA="-Wl,-soname,$SONAME -Wl,--version-script=$ROOT/capi/exports.map"

CFLAGS=(-std=c99 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -g -I"$ROOT/include")
LIBS=(-L"$ROOT/build" -lchunkgroup -lpthread)
TESTS=()
for src in tests/c/test_*.c; do
    name=$(basename "$src" .c)
    if "$CC" "${CFLAGS[@]}" "$src" -o "$OUT/$name" "${LIBS[@]}"; then
        TESTS+=("$name")
    else
        fail "compile $name"
    fi
done
if "$CXX" -std=c++17 -Wall -Wextra -Werror -I"$ROOT/include" tests/c/test_cxx.cpp -o "$OUT/test_cxx" "${LIBS[@]}"; then
    TESTS+=(test_cxx)
else
    fail "compile test_cxx (C++17)"
fi

# run LABEL ENV... -- CMD...: runs a test program, counts its PASS/FAIL lines;
# a non-zero exit without a FAIL line (crash, memory error) is a failure too.
run() {
    local label=$1
    shift
    local log="$OUT/$label.log"
    timeout 900 "$@" >"$log" 2>&1
    local rc=$?
    local p f
    p=$(grep -c '^PASS ' "$log")
    f=$(grep -c '^FAIL ' "$log")
    passed=$((passed + p))
    if [ "$f" -gt 0 ]; then
        failed=$((failed + f))
        grep '^FAIL ' "$log" | sed "s/^/[$label] /"
        failures+=("$label")
    fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        fail "$label (exit $rc, see $log)"
    fi
    if [ $rc -ne 0 ] || [ "$f" -gt 0 ]; then
        sed 's/^/    /' "$log" | grep -v '^    PASS ' | tail -40
    fi
}

export LD_LIBRARY_PATH=$ROOT/build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for t in "${TESTS[@]}"; do
    run "$t" env "$OUT/$t"
    run "$t.cgocheck" env GODEBUG=cgocheck=1 "$OUT/$t"
done

# The full cgo pointer check (every pointer store from Go to C memory and
# back) needs a library built with GOEXPERIMENT=cgocheck2.
CC2=$ROOT/build/cgocheck2
mkdir -p "$CC2"
if GOEXPERIMENT=cgocheck2 "$GO" build -buildmode=c-shared -trimpath -ldflags "-extldflags '$LDEXTRA'" \
    -o "$CC2/libchunkgroup.so" ./capi; then
    rm -f "$CC2/libchunkgroup.h"
    ln -sf libchunkgroup.so "$CC2/$SONAME"
    for t in "${TESTS[@]}"; do
        run "$t.cgocheck2" env LD_LIBRARY_PATH="$CC2" "$OUT/$t"
    done
else
    fail "build of the cgocheck2 variant of the library"
fi

# Versions agree: the soname is the header's ABI version, only cg_* symbols
# are exported, and the installed pkg-config file reports the library's
# version (test_version.c checks the header against the library).
if readelf -d build/libchunkgroup.so | grep -q "Library soname: \[$SONAME\]"; then pass; else fail "soname is not $SONAME"; fi
others=$(nm -D --defined-only build/libchunkgroup.so | awk '{print $3}' | grep -v '^cg_' | head -5)
if [ -z "$others" ]; then pass; else fail "non-cg_ dynamic symbols exported: $others"; fi

# Examples: in-tree, then against an installed copy via pkg-config.
if make -s -C examples/c clean run CC="$CC" >"$OUT/examples.log" 2>&1; then pass; else fail "examples (see $OUT/examples.log)"; cat "$OUT/examples.log"; fi
INST=$OUT/prefix
rm -rf "$INST"
if make -s install PREFIX="$INST" >/dev/null &&
    make -s -C examples/c clean run PREFIX="$INST" CC="$CC" >"$OUT/examples-installed.log" 2>&1; then
    pass
else
    fail "examples against the installed library (see $OUT/examples-installed.log)"
fi
# The README's C instructions, verbatim: compile with pkg-config, then let
# the loader find the library through LD_LIBRARY_PATH, or through an rpath.
export PKG_CONFIG_PATH="$INST/lib/pkgconfig"
if $CC examples/c/minimal.c $(pkg-config --cflags --libs chunkgroup) -o "$OUT/readme_app" &&
    LD_LIBRARY_PATH="$INST/lib" "$OUT/readme_app" >"$OUT/readme_app.log" 2>&1 &&
    $CC examples/c/minimal.c $(pkg-config --cflags --libs chunkgroup) -Wl,-rpath,"$INST/lib" -o "$OUT/readme_app_rpath" &&
    env -u LD_LIBRARY_PATH "$OUT/readme_app_rpath" >>"$OUT/readme_app.log" 2>&1; then
    pass
else
    fail "the README's C install instructions (see $OUT/readme_app.log)"
fi
unset PKG_CONFIG_PATH
pcver=$(PKG_CONFIG_PATH="$INST/lib/pkgconfig" pkg-config --modversion chunkgroup 2>/dev/null)
libver=$(LD_LIBRARY_PATH="$ROOT/build" "$OUT/test_version" --print 2>/dev/null)
if [ -n "$pcver" ] && [ "$pcver" = "$libver" ] && [ -e "$INST/lib/$SONAME" ]; then
    pass
else
    fail "pkg-config version '$pcver', library version '$libver', installed $SONAME: they must agree"
fi

# valgrind: memcheck needs the Go runtime's client requests (go build -tags
# valgrind, Go >= 1.25) to understand the Go heap and goroutine stacks; a
# plain build reports thousands of false invalid reads inside the runtime.
if [ "${CG_NO_VALGRIND:-0}" = 1 ]; then
    echo "valgrind runs skipped (CG_NO_VALGRIND=1)"
elif ! command -v valgrind >/dev/null; then
    fail "valgrind not installed (set CG_NO_VALGRIND=1 to skip)"
else
    VG=$ROOT/build/valgrind
    if make -s lib-valgrind; then
        # Async preemption (a signal that makes the interrupted goroutine
        # spill registers below its stack pointer) is reported by memcheck
        # as invalid stack accesses at random; it is off under valgrind, the
        # usual setting for Go programs under memcheck.
        export GODEBUG=asyncpreemptoff=1
        # The suppression file as `make install` puts it (docs/valgrind.md).
        SUPP=$INST/share/chunkgroup/valgrind.supp
        if [ -f "$SUPP" ]; then pass; else fail "make install did not install $SUPP"; SUPP=$ROOT/tests/c/valgrind.supp; fi
        VGCMD=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
            --show-leak-kinds=definite --suppressions="$SUPP")
        for t in "${TESTS[@]}"; do
            run "$t.valgrind" env LD_LIBRARY_PATH="$VG" "${VGCMD[@]}" "$OUT/$t"
        done
        if make -s -C examples/c clean run CC="$CC" LIBDIR="$VG" RUNNER="${VGCMD[*]}" >"$OUT/examples-valgrind.log" 2>&1; then
            pass
        else
            fail "examples under valgrind (see $OUT/examples-valgrind.log)"
            tail -40 "$OUT/examples-valgrind.log"
        fi
    else
        fail "build of the valgrind variant of the library"
    fi
    unset GODEBUG
fi
make -s -C examples/c clean >/dev/null

# Lifetime cycles under traffic (issue 12), plain run only (valgrind would
# take hours at this count): CHUNKGROUP_CYCLES, default 1000; make soak
# runs 10000.
if "$CC" "${CFLAGS[@]}" tests/c/lifetime_cycles.c -o "$OUT/lifetime_cycles" "${LIBS[@]}"; then
    run lifetime_cycles env CHUNKGROUP_CYCLES="${CHUNKGROUP_CYCLES:-1000}" "$OUT/lifetime_cycles"
    grep '^lifetime:' "$OUT/lifetime_cycles.log"
else
    fail "compile lifetime_cycles"
fi

echo "C tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
