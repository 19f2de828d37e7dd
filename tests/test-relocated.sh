#!/usr/bin/env bash
# tests/test-relocated.sh BUILD_ROOT PREFIX LIBDIR BINDIR - an install finds its own plugins
# wherever it lies (docs/ARCHITECTURE.md "Plugin discovery and loading": a search path next to the installed library): installs
# the build into a temporary DESTDIR, then moves the whole tree elsewhere, and each time runs the
# installed `hrm` on the installed libhrm with no $HRM_PLUGIN_PATH: `hrm backends` must list the
# CPU plugin and `hrm data tasks` the Sudoku task from <libdir>/hrm/{backends,tasks} beside that
# libhrm, not from the build tree or the compile-time folder.
set -euo pipefail
build=$1 prefix=$2 libdir=$3 bindir=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

die() { echo "relocated: $*" >&2; exit 1; }
case $libdir in /*) lib=$libdir ;; *) lib=$prefix/$libdir ;; esac
case $bindir in /*) bin=$bindir ;; *) bin=$prefix/$bindir ;; esac

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null || die "meson install failed"

# $1: the root the install lies under now
check() {
    root=$1
    [ -x "$root$bin/hrm" ] || die "no installed hrm at $root$bin/hrm"
    unset HRM_PLUGIN_PATH HRM_BACKEND || true
    LD_LIBRARY_PATH=$root$lib "$root$bin/hrm" backends >"$tmp/backends" 2>&1 ||
        die "$root: hrm backends failed: $(cat "$tmp/backends")"
    grep -q "^cpu .*usable .*$root$lib/hrm/backends/hrm-backend-cpu.so" "$tmp/backends" ||
        die "$root: hrm backends does not find the installed CPU plugin beside libhrm: $(cat "$tmp/backends")"
    LD_LIBRARY_PATH=$root$lib "$root$bin/hrm" data tasks >"$tmp/tasks" 2>&1 ||
        die "$root: hrm data tasks failed: $(cat "$tmp/tasks")"
    grep -q "$root$lib/hrm/tasks/hrm-task-sudoku.so" "$tmp/tasks" ||
        die "$root: hrm data tasks does not find the installed Sudoku task beside libhrm: $(cat "$tmp/tasks")"
    echo "ok: $root finds its backends and tasks"
}
check "$tmp/root"
mkdir "$tmp/elsewhere"
mv "$tmp/root" "$tmp/elsewhere/root"
check "$tmp/elsewhere/root"
