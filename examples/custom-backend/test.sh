#!/bin/sh
# examples/custom-backend/test.sh BUILD_ROOT PREFIX LIBDIR CONFORMANCE
# Builds the example plugin the way an out-of-tree author would: install the project into a
# temporary DESTDIR, compile example.c with only that install's `pkg-config --cflags hrm`, then
# run the conformance suite (CONFORMANCE, normally BUILD_ROOT/tests/test_conformance) on the
# plugin. Any failing step fails the test.
set -eu
build=$1 prefix=$2 libdir=$3 conformance=$4
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { echo "== $*"; }
die() { echo "custom-backend: $*" >&2; exit 1; }

step "install $build into $tmp/root"
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet || die "meson install failed"

case $libdir in /*) pcdir=$libdir/pkgconfig ;; *) pcdir=$prefix/$libdir/pkgconfig ;; esac
PKG_CONFIG_LIBDIR=$tmp/root$pcdir PKG_CONFIG_SYSROOT_DIR=$tmp/root
export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
unset PKG_CONFIG_PATH || true
pkg-config --exists hrm || die "no hrm.pc under $tmp/root$pcdir"
cflags=$(pkg-config --cflags hrm)
step "pkg-config --cflags hrm: $cflags"

plugin=$tmp/hrm-backend-example.so
if command -v make >/dev/null 2>&1; then
    step "make -C $here OUT=$tmp"
    make -s -C "$here" OUT="$tmp" || die "make failed"
else
    step "cc example.c"
    ${CC:-cc} -std=c11 -O2 -Wall -Wextra -shared -fPIC $cflags "$here/example.c" -o "$plugin" -lm ||
        die "compiling example.c failed"
fi
[ -f "$plugin" ] || die "$plugin was not built"

step "conformance suite on $plugin"
[ -x "$conformance" ] || die "no conformance suite at $conformance"
HRM_TEST_PLUGIN=$plugin "$conformance" || die "conformance suite failed on the example backend"
step "example backend passes"
