#!/usr/bin/env bash
# tests/test-reference.sh - the PyTorch reference's own checks (reference/hrm_ref.py
# --selftest: its ops against naive formulas, its gradients against finite differences, its
# checkpoint round trip) wherever a python3 with torch and numpy is installed (Debian:
# python3-torch); skipped (77) elsewhere: the build and the other tests do not need torch.
set -uo pipefail
ref=$(cd "$(dirname "$0")/../reference" && pwd)/hrm_ref.py
for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import torch, numpy' 2>/dev/null; then
        "$py" "$ref" --selftest
        exit $?
    fi
done
echo "skipped: no python3 with torch and numpy here (Debian: apt-get install python3-torch)"
exit 77
