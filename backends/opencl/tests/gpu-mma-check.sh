#!/bin/sh
# gpu-mma-check.sh [BUILD [OUT]] - the checks of the tf32/bf16 mma kernel (kernels/mma.cl,
# ocl_mma.c) that need an NVIDIA GPU of compute capability 8.0 or later; run from the repository
# root on that machine. BUILD (default build-gpu) is set up and built if missing (a carried tree
# without ninja there is used as built: pass BUILD=build after on-device.sh); every step's
# output goes to OUT (default $OUT, else build-gpu/mma-check) and a summary to stdout.
#   1. auto picks the PTX variant, it builds and passes its start-up validation (the info line),
#      with ptxas' register and spill report (-cl-nv-verbose) and the PTX kept (mma.ptx);
#   2. test_mma on the PTX variant (HRM_TEST_MMA_VARIANT=ptx): every shape, transpose, edge, batch,
#      the rounding modes (ties, Inf, NaN), exactness, the 64 x 64 tiles, refusal, profile label;
#   3. test_mma on the portable variant on the same GPU;
#   4. the conformance suite's precision case on the OpenCL plugin (auto: PTX);
#   5. speed at 4096^3 (targets: bf16 >= 200 TFLOP/s, tf32 >= 100) with the cvt roundings and with
#      the integer ones (HRM_MMA_PTX_CVT=0), and the HRM shapes of `hrm bench ops`.
set -u
build=${1:-build-gpu}
out=${2:-${OUT:-$build/mma-check}}
mkdir -p "$out"
export HRM_THREADS=${HRM_THREADS:-8}
cache=$(mktemp -d) # a fresh kernel cache: the build log (registers) is only there on a real build
export XDG_CACHE_HOME="$cache"
trap 'rm -rf "$cache"' EXIT
step() { echo "== $*"; }
# A tree carried to the GPU machine by ../shared/device/pack.sh arrives built, where meson and
# ninja may be missing or another version: then it is used as it is.
if [ -x "$build/tools/hrm" ] && ! command -v ninja >/dev/null 2>&1; then
    echo "gpu-mma-check: no ninja here; using $build as built"
else
    if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" --buildtype=release >"$out/setup.log" 2>&1 || { tail -20 "$out/setup.log"; exit 1; }
    fi
    ninja -C "$build" >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
fi
plugin="$PWD/$build/backends/opencl/hrm-backend-opencl.so"

step "1. variant, build, validation (mma.ptx, validate.log; registers: nv-verbose.log)"
HRM_LOG=debug HRM_OPENCL_MMA_DUMP="$out/mma.ptx" timeout 300 "$build/tools/hrm" backends --validate \
    >"$out/validate.log" 2>&1
grep -E "opencl: .*(mma|matmul precision|not offered)|precisions:" "$out/validate.log" | head -20
# ptxas' report (cl_nv_compiler_options; a fresh cache so that the program is really built)
XDG_CACHE_HOME="$cache/nv" HRM_LOG=debug HRM_OPENCL_BUILD_OPTIONS=-cl-nv-verbose timeout 300 "$build/tools/hrm" \
    backends --validate >"$out/nv-verbose.log" 2>&1
grep -E "mma build log: .*(registers|spill|hrm_mma|bytes stack)" "$out/nv-verbose.log" | head -12
if [ -f "$out/mma.ptx" ]; then
    echo "mma.ptx: $(grep -c 'mma\.sync' "$out/mma.ptx") mma.sync, $(grep -c 'cvt\.rn' "$out/mma.ptx") cvt," \
        "$(grep -c 'local_depot' "$out/mma.ptx") local stack frames; $(grep -m1 '^\.version' "$out/mma.ptx")" \
        "$(grep -m1 '^\.target' "$out/mma.ptx")"
fi

step "2. test_mma on the PTX variant (test-ptx.log)"
HRM_TEST_MMA_VARIANT=ptx timeout 300 "$build/backends/opencl/test_mma" >"$out/test-ptx.log" 2>&1
echo "exit $?: $(grep -E '^[0-9]+%: Checks' "$out/test-ptx.log")"
grep -E ':[EF]:' "$out/test-ptx.log" | cut -c1-300 | head -10

step "3. test_mma on the portable variant (test-portable.log)"
timeout 300 "$build/backends/opencl/test_mma" >"$out/test-portable.log" 2>&1
echo "exit $?: $(grep -E '^[0-9]+%: Checks' "$out/test-portable.log")"
grep -E ':[EF]:' "$out/test-portable.log" | cut -c1-300 | head -10

step "4. conformance, precision case, OpenCL plugin (conformance.log)"
HRM_TEST_PLUGIN="$plugin" CK_RUN_CASE=precision timeout 300 "$build/tests/test_conformance" >"$out/conformance.log" 2>&1
echo "exit $?: $(grep -E '^[0-9]+%: Checks' "$out/conformance.log")"

step "5. speed (bench.log, bench-nocvt.log, bench-ops-*.json)"
timeout 300 "$build/backends/opencl/bench_mma" 4096 4096 4096 20 >"$out/bench.log" 2>&1
grep -E "TFLOP|not offered|WRONG" "$out/bench.log"
HRM_OPENCL_BUILD_OPTIONS=-DHRM_MMA_PTX_CVT=0 timeout 300 "$build/backends/opencl/bench_mma" 4096 4096 4096 20 \
    >"$out/bench-nocvt.log" 2>&1
echo "with HRM_MMA_PTX_CVT=0:"
grep -E "^(high|medium)" "$out/bench-nocvt.log"
for p in highest medium; do
    timeout 300 "$build/tools/hrm" bench ops --backend opencl --matmul-precision $p --json "$out/bench-ops-$p.json" \
        >"$out/bench-ops-$p.log" 2>&1
    echo "hrm bench ops --matmul-precision $p: exit $?"
    grep -iE "matmul" "$out/bench-ops-$p.log" | head -8
done
