# tests/cli/test-lib.sh - what the shell tests share (sourced): a scratch folder $tmp removed on exit,
# fail and ok (one line each; fail counts in $fails), expect_exit, and finish (the exit status).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
# The end of a test: exit 1 when any check failed (not the count: 256 failures would exit 0, and 77
# would read as "skipped").
finish() {
    [ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
    exit 0
}

# $1: description; $2: the exit code wanted, or "nz" for any non-zero one; the rest: the command,
# which must print exactly one line on stderr and nothing on stdout. Leaves its status in $rc.
expect_exit() {
    what=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$want" = nz ]; then
        [ "$rc" -ne 0 ] || fail "$what: exit 0"
    else
        [ "$rc" -eq "$want" ] || fail "$what: exit $rc, want $want"
    fi
    lines=$(wc -l <"$tmp/err")
    [ "$lines" -eq 1 ] || fail "$what: $lines lines on stderr, want 1: $(cat "$tmp/err")"
    [ -s "$tmp/out" ] && fail "$what: wrote to stdout"
    echo "ok: $what -> $(cat "$tmp/err")"
}

# need_backend HRM NAME: for a test that needs the backend NAME. Returns when `HRM backends` lists
# it usable. When its plugin loads but declines (no device: no OpenCL platform, say), says
# "skipped" and why in one line and exits 77, meson's "skipped"; when it is missing or refused (a
# broken build), exits 1.
need_backend() {
    "$1" backends >"$tmp/backends" 2>&1
    state=$(sed -n "s/^$2  *\([a-z]*\) .*/\1/p" "$tmp/backends")
    case $state in
    usable) return 0 ;;
    declined)
        echo "skipped: the $2 backend finds no device here: $(sed -n "/^$2 /,\$s/^ *reason: //p" "$tmp/backends" | head -n 1)"
        exit 77 ;;
    *)
        echo "FAIL: the $2 backend is ${state:-missing} (hrm backends: $(grep -v '^ ' "$tmp/backends" | tr -s ' \n' ' '))"
        exit 1 ;;
    esac
}
