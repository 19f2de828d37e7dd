#!/usr/bin/env python3
"""tests/cli/st_compare.py A B TOL [--names N1,N2] - compares two safetensors files (float32
tensors) written by `hrm train`: the same tensor names, shapes and metadata keys, and every value
within TOL: |a - b| <= TOL * (1 + |a|). Prints the largest error per tensor family; exit 1 on a
mismatch. --exact: every tensor byte for byte. --flips NAME:K: tensor NAME may have up to K
values off by more than TOL (a SignSGD-trained tensor: sign(g) turns a rounding-level difference
of a gradient element next to 0 into a step of 2 lr; a real fault moves whole rows). Used by tests/cli/test-mpi.sh to set several
processes beside one (the sums of the gradients run in another order: fp32 rounding)."""
import array
import json
import struct
import sys


def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    meta = head.pop("__metadata__", {})
    out = {}
    for name, t in head.items():
        lo, hi = t["data_offsets"]
        v = array.array({"F32": "f", "I32": "i"}[t["dtype"]])
        v.frombytes(b[8 + n + lo:8 + n + hi])
        out[name] = (tuple(t["shape"]), v)
    return out, meta


def main():
    a_path, b_path, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    exact = "--exact" in sys.argv
    flips = {}
    for i, arg in enumerate(sys.argv):
        if arg == "--flips":
            name, k = sys.argv[i + 1].rsplit(":", 1)
            flips[name] = int(k)
    a, ma = read(a_path)
    b, mb = read(b_path)
    if sorted(a) != sorted(b) or sorted(ma) != sorted(mb):
        print(f"{a_path} and {b_path}: different tensors or metadata keys", file=sys.stderr)
        return 1
    worst, bad = 0.0, []
    for name in sorted(a):
        (sx, x), (sy, y) = a[name], b[name]
        if sx != sy:
            bad.append(f"{name}: shape {sx} vs {sy}")
            continue
        if exact:
            if x.tobytes() != y.tobytes():
                bad.append(f"{name}: differs")
            continue
        errs = sorted((abs(p - q) / (1 + abs(p)) for p, q in zip(x, y)), reverse=True)
        k = flips.get(name, 0)
        if k and errs and errs[0] > tol:
            print(f"{b_path}: {name}: {sum(e > tol for e in errs)} values beyond {tol:g} (largest {errs[0]:.3g}), "
                  f"{k} allowed")
        err = errs[k] if len(errs) > k else 0.0
        worst = max(worst, err)
        if not err <= tol:
            bad.append(f"{name}: error {err:.3g} > {tol:g}")
    for line in bad:
        print(f"{b_path}: {line}", file=sys.stderr)
    if not bad:
        print(f"{b_path}: {len(a)} tensors within {tol:g} of {a_path} (worst {worst:.3g})" if not exact
              else f"{b_path}: {len(a)} tensors identical to {a_path}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
