#!/bin/sh
# examples/embed/test.sh BUILD_ROOT PREFIX LIBDIR HRM SOURCE_ROOT [TEST_SOLVER]
# Builds the embedding example the way a user would: install the project into a temporary
# DESTDIR, compile solve.c with only that install's `pkg-config --cflags --libs hrm`, and run it
# on the installed library and CPU plugin. Then checks its answers against `hrm eval --dump` (HRM,
# the build tree's program) on the test split of tests/golden/data, for two checkpoints: a tiny
# model trained here for 3 steps, and tests/golden/init.safetensors (whose random Q head halts
# puzzles at different segments, so the early stop is exercised). For every example:
#   - default mode: "segments: K" where K is the first segment with q_halt > q_continue in the
#     dump (else halt_max_steps), the tokens of `hrm eval --segments K`'s predictions.npy and
#     the q_halt of segment K, all exactly (both run one puzzle at a time: --batch 1);
#   - --all-segments --segments k (k = 1, halt_max_steps): the dump of --segments k;
# and the same puzzle read from stdin prints the same. Bad input gives one line and exit 1.
# With TEST_SOLVER (the API's unit tests), runs them on the trained checkpoint as well.
set -eu
build=$1 prefix=$2 libdir=$3 hrm=$4 src=$5 test_solver=${6:-}
here=$(cd "$(dirname "$0")" && pwd)
data=$src/tests/golden/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { echo "== $*"; }
die() { echo "embed: $*" >&2; exit 1; }

step "install $build into $tmp/root"
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet || die "meson install failed"

case $libdir in /*) libpath=$libdir ;; *) libpath=$prefix/$libdir ;; esac
PKG_CONFIG_LIBDIR=$tmp/root$libpath/pkgconfig PKG_CONFIG_SYSROOT_DIR=$tmp/root
export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
unset PKG_CONFIG_PATH || true
pkg-config --exists hrm || die "no hrm.pc under $tmp/root$libpath/pkgconfig"
[ -f "$tmp/root$(pkg-config --variable=includedir hrm | sed "s|^$tmp/root||")/hrm/solver.h" ] ||
    die "hrm/solver.h is not installed"
flags=$(pkg-config --cflags --libs hrm)
step "cc solve.c $flags"
${CC:-cc} -std=c11 -Wall -Wextra -Werror ${EMBED_CFLAGS:-} "$here/solve.c" $flags -o "$tmp/embed-solve" ||
    die "compiling solve.c failed"

# The example runs on the installed library and the installed CPU plugin only.
plugins=$tmp/root$libpath/hrm/backends
[ -f "$plugins/hrm-backend-cpu.so" ] || die "no installed CPU plugin in $plugins"
export HRM_BACKEND=cpu HRM_THREADS=${HRM_THREADS:-2}
solve_env="LD_LIBRARY_PATH=$tmp/root$libpath HRM_PLUGIN_PATH=$plugins"
# meson test puts the build tree's libhrm on LD_LIBRARY_PATH; solve_env must replace it
if command -v ldd >/dev/null 2>&1; then
    env $solve_env ldd "$tmp/embed-solve" | grep -q "libhrm.so.* => $tmp/root" ||
        die "embed-solve does not load the installed libhrm: $(env $solve_env ldd "$tmp/embed-solve" | grep libhrm)"
fi

step "train a tiny model for 3 steps"
"$hrm" train data_path="$data" checkpoint_path="$tmp/run" arch.hidden_size=16 arch.num_heads=2 \
    arch.H_layers=1 arch.L_layers=1 arch.halt_max_steps=4 global_batch_size=6 lr=1e-2 lr_warmup_steps=1 \
    max_steps=3 epochs=1000 >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; die "hrm train failed"; }
[ -s "$tmp/run/step_3.safetensors" ] || die "training wrote no step_3.safetensors"

# $1: name, $2: checkpoint; both checkpoints have halt_max_steps 4.
compare() {
    for k in 1 2 3 4; do
        "$hrm" eval --checkpoint "$2" --data "$data" --segments $k --batch 1 --dump "$tmp/$1.$k" >/dev/null ||
            die "hrm eval --segments $k on $2 failed"
    done
    step "embed-solve against hrm eval --dump on $1"
    env $solve_env python3 - "$tmp/embed-solve" "$2" "$data/test" "$tmp/$1" 4 <<'PY' || die "$1: embed-solve disagrees with hrm eval"
import ast, struct, subprocess, sys
solve, ckpt, test, dumps, M = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])

def npy(path):  # the few .npy files here: little-endian u1, i4, f4, C order
    b = open(path, "rb").read()
    assert b[:6] == b"\x93NUMPY" and b[6] == 1, path
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode("latin1"))
    fmt = {"|u1": "B", "<i4": "i", "<f4": "f"}[h["descr"]]
    flat = struct.unpack("<%d%s" % (len(b[10 + n:]) // struct.calcsize(fmt), fmt), b[10 + n:])
    cols = 1
    for d in h["shape"][1:]: cols *= d
    return [flat[r * cols:(r + 1) * cols] for r in range(h["shape"][0])]

def run(args, stdin=None):
    p = subprocess.run([solve] + args, input=stdin, capture_output=True, text=True)
    if p.returncode != 0: sys.exit("embed-solve %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout

def expect(pred, used, limit, q):
    return "%s\nsegments: %d of %d\nq_halt: %.9g\n" % (" ".join(map(str, pred)), used, limit, q)

inputs = npy(test + "/all__inputs.npy")
ids, starts = npy(test + "/all__puzzle_identifiers.npy"), npy(test + "/all__puzzle_indices.npy")
pred = {k: npy("%s.%d/predictions.npy" % (dumps, k)) for k in range(1, M + 1)}
qh = {k: npy("%s.%d/q_halt.npy" % (dumps, k)) for k in range(1, M + 1)}  # [k, N] per run
qc = npy("%s.%d/q_continue.npy" % (dumps, M))
early = 0
for i, tokens in enumerate(inputs):
    pid = [ids[p][0] for p in range(len(ids)) if starts[p][0] <= i < starts[p + 1][0]][0]
    args = ["--puzzle-id", str(pid), ckpt] + [str(t) for t in tokens]
    K = next((k for k in range(1, M + 1) if qh[M][k - 1][i] > qc[k - 1][i]), M)
    early += K < M
    want = expect(pred[K][i], K, M, qh[M][K - 1][i])
    got = run(args)
    if got != want: sys.exit("example %d (halting):\n got  %swant %s" % (i, got, want))
    for k in (1, M):
        got = run(["--all-segments", "--segments", str(k)] + args)
        want = expect(pred[k][i], k, k, qh[k][k - 1][i])
        if got != want: sys.exit("example %d (--all-segments --segments %d):\n got  %swant %s" % (i, k, got, want))
    got = run(args[:3], " ".join(args[3:]) + "\n")
    if got != expect(pred[K][i], K, M, qh[M][K - 1][i]): sys.exit("example %d: stdin gives %s" % (i, got))
print("%d examples agree; %d halted before segment %d" % (len(inputs), early, M))
open(dumps + ".early", "w").write(str(early))
PY
}
compare trained "$tmp/run/step_3.safetensors"
compare init "$src/tests/golden/init.safetensors"
[ "$(cat "$tmp/init.early")" -gt 0 ] || die "no puzzle halted early: the early stop went unchecked"

# $1: description; $2: text the one error line must contain; rest: arguments of embed-solve
expect_error() {
    what=$1 want=$2
    shift 2
    rc=0
    env $solve_env "$tmp/embed-solve" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
    [ "$rc" -eq 1 ] || die "$what: exit $rc, want 1"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || die "$what: want one line on stderr: $(cat "$tmp/err")"
    grep -qF -- "$want" "$tmp/err" || die "$what: the error does not mention '$want': $(cat "$tmp/err")"
    echo "ok: $what -> $(cat "$tmp/err")"
}
ck=$tmp/run/step_3.safetensors
tokens="1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6"
expect_error "missing checkpoint" "$tmp/none.safetensors" "$tmp/none.safetensors" $tokens
head -c 1000 "$ck" >"$tmp/cut.safetensors"
expect_error "truncated checkpoint" "$tmp/cut.safetensors" "$tmp/cut.safetensors" $tokens
# shellcheck disable=SC2086
expect_error "token out of range" "vocabulary" "$ck" 1 2 3 4 5 6 7 8 9 10 11 2 3 4 5 6
expect_error "puzzle id out of range" "identifier 9" --puzzle-id 9 "$ck" $tokens
expect_error "too few tokens" "15 tokens" "$ck" 1 2 3 4 5 6 7 8 9 10 1 2 3 4 5
expect_error "empty stdin" "stdin ended after 0" "$ck"

if [ -n "$test_solver" ]; then
    step "the API's unit tests on the trained checkpoint"
    "$test_solver" "$ck" || die "test_solver failed on $ck"
fi
step "embed example passes"
