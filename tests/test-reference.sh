#!/usr/bin/env bash
# tests/test-reference.sh - the PyTorch references' own checks (reference/hrm_ref.py and
# reference/trm_ref.py --selftest: their ops against naive formulas, their gradients against
# finite differences, their checkpoint round trips) wherever a python3 with torch and numpy is
# installed (Debian: python3-torch); skipped (77) elsewhere: the build and the other tests do not
# need torch.
set -uo pipefail
dir=$(cd "$(dirname "$0")/../reference" && pwd)
for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import torch, numpy' 2>/dev/null; then
        rc=0
        "$py" "$dir/hrm_ref.py" --selftest || rc=1
        "$py" "$dir/trm_ref.py" --selftest || rc=1
        # the committed TRM fixtures are what the generator writes: byte for byte on the CPU that
        # wrote them, within rounding elsewhere (reference/fixtures_close.py says how)
        out=$(mktemp -d)
        "$py" "$dir/make_trm_golden.py" --out "$out" || rc=1
        for f in attn.safetensors mlp.safetensors README.md; do
            "$py" "$dir/fixtures_close.py" "$out/$f" "$dir/../tests/golden-trm/$f" ||
                { echo "tests/golden-trm/$f differs from make_trm_golden.py's"; rc=1; }
        done
        rm -rf "$out"
        # and tests/golden (HRM's and TRM's training fixtures, the torch.save files, the README)
        out=$(mktemp -d)
        "$py" "$dir/make_fixtures.py" --out "$out" >/dev/null || rc=1
        "$py" "$dir/fixtures_close.py" "$out" "$dir/../tests/golden" ||
            { echo "tests/golden differs from make_fixtures.py's"; rc=1; }
        rm -rf "$out"
        exit $rc
    fi
done
echo "skipped: no python3 with torch and numpy here (Debian: apt-get install python3-torch)"
exit 77
