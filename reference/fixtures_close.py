#!/usr/bin/env python3
"""reference/fixtures_close.py NEW OLD [TOL] - whether the fixtures a generator just wrote (file or
directory NEW) are the committed ones (OLD) up to the machine they were computed on.

tests/test-reference.sh first compares the files byte for byte. That holds on the CPU that wrote
them; torch's fp32 products on another CPU (another BLAS kernel, AVX2 against AVX-512) sum in
another order, so the expected values move in their last bits, by more in the free-running
steps (the MLP form's logits grow a rounding difference about 8x per supervision step), and the
README's measured-error column moves with them. Where the bytes differ, this script accepts:
  - safetensors: the same tensor names, dtypes and shapes; integer tensors equal; every float
    tensor within TOL (default 1e-2) of the committed one, relative to the committed tensor's
    largest magnitude; metadata equal once its numbers are masked;
  - text: equal line for line once numbers are masked; of a table row only its label and its
    number of cells (the measured columns hold numbers and the names of the worst tensors);
  - anything else: byte for byte.
A generator that was changed without regenerating moves values by far more than rounding.
Prints one line per file that differs in bytes; exit 1 on a mismatch."""
import json
import os
import re
import struct
import sys

import numpy as np

NUM = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.uint8}


def masked(text):
    return NUM.sub("#", text)


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    meta = head.pop("__metadata__", {})
    out = {}
    for name, t in head.items():
        lo, hi = t["data_offsets"]
        v = np.frombuffer(b[8 + n + lo:8 + n + hi], dtype=DTYPES[t["dtype"]])
        if t["dtype"] == "BF16":
            v = (v.astype(np.uint32) << 16).view(np.float32)
        out[name] = (t["dtype"], tuple(t["shape"]), v)
    return out, meta


def close_st(new, old, tol):
    a, ma = read_st(new)
    b, mb = read_st(old)
    if sorted(a) != sorted(b):
        return False, f"tensors differ: {sorted(set(a) ^ set(b))[:4]}"
    if sorted(ma) != sorted(mb) or any(masked(ma[k]) != masked(mb[k]) for k in ma):
        return False, "metadata differs beyond its numbers"
    worst, where = 0.0, "-"
    for name, (dt, shape, v) in a.items():
        dt0, shape0, v0 = b[name]
        if dt != dt0 or shape != shape0:
            return False, f"{name}: {dt}{list(shape)} against {dt0}{list(shape0)}"
        if v.dtype.kind != "f":
            if not np.array_equal(v, v0):
                return False, f"{name}: integer values differ"
            continue
        if v.size == 0:
            continue
        scale = max(float(np.max(np.abs(v0.astype(np.float64)))), 1e-30)
        err = float(np.max(np.abs(v.astype(np.float64) - v0.astype(np.float64)))) / scale
        if not err <= tol:  # NaN fails too
            return False, f"{name}: relative difference {err:.2e} > {tol:g}"
        if err >= worst:
            worst, where = err, name
    return True, f"within {tol:g}, worst {worst:.1e} ({where})"


def close_text(new, old):
    a = open(new, encoding="utf-8").read().splitlines()
    b = open(old, encoding="utf-8").read().splitlines()
    if len(a) != len(b):
        return False, f"{len(a)} lines against {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        if x.startswith("|") and y.startswith("|"):  # a table row: its label and its shape
            x, y = x.split("|"), y.split("|")
            x, y = (x[1], len(x)), (y[1], len(y))
        if masked(str(x)) != masked(str(y)):
            return False, f"line {i + 1} differs beyond its numbers"
    return True, "equal up to the measured numbers"


def compare(new, old, tol, shown):
    if os.path.isdir(new) or os.path.isdir(old):
        if not (os.path.isdir(new) and os.path.isdir(old)):
            print(f"{shown}: a directory on one side only")
            return False
        names = sorted(set(os.listdir(new)) | set(os.listdir(old)))
        ok = True
        for n in names:
            ok &= compare(os.path.join(new, n), os.path.join(old, n), tol, os.path.join(shown, n))
        return ok
    if not (os.path.exists(new) and os.path.exists(old)):
        print(f"{shown}: {'not written by the generator' if os.path.exists(old) else 'not committed'}")
        return False
    if open(new, "rb").read() == open(old, "rb").read():
        return True
    if new.endswith(".safetensors"):
        ok, why = close_st(new, old, tol)
    elif new.endswith((".md", ".txt", ".json")):
        ok, why = close_text(new, old)
    else:
        ok, why = False, "differs byte for byte"
    print(f"{shown}: bytes differ; {'accepted' if ok else 'MISMATCH'}: {why}")
    return ok


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    tol = float(sys.argv[3]) if len(sys.argv) == 4 else 1e-2
    return 0 if compare(sys.argv[1], sys.argv[2], tol, os.path.basename(sys.argv[2].rstrip("/"))) else 1


if __name__ == "__main__":
    sys.exit(main())
