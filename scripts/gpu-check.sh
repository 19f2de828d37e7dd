#!/usr/bin/env bash
# scripts/gpu-check.sh - one command for anyone with a GPU: from a built tree, check and measure the
# OpenCL backend on one device and write a report to attach to a bug report. Steps, each with its
# own time limit and log, each run whatever became of the ones before:
#   devices          hrm backends, then hrm backends --validate (every device opened, GEMM checked)
#   tests            the OpenCL suite, conformance and golden tests, read from
#                    BUILD_DIR/meson-info/intro-tests.json and run directly (no meson needed)
#   bench            hrm bench --backend opencl (the cross-vendor suite) on the device
#   gemm             hrm bench gemm: a 4096^3 GEMM at each matmul precision the device runs
#   vs-torch         scripts/bench-vs-torch.sh beside PyTorch on CUDA (skipped when python3's torch
#                    sees no GPU)
#   bench-train      hrm bench train --model both (small batch 32, Sudoku 27M batch 8)
#   bench-train-768  hrm bench train --model sudoku --batch 768 (the published batch size)
#   train            a short real run: generate and build a Sudoku dataset, hrm train, hrm eval
# and then OUTDIR/summary.txt and OUTDIR/summary.json. Exit 0 when every step that ran passed,
# 1 otherwise, 2 for bad usage. `scripts/gpu-check.sh --help` for the options.
# shellcheck disable=SC2317 # the step_* functions are called by name ("step_${name//-/_}")
set -u
set -o pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
root=$(dirname "$(dirname "$self")")
steps=(devices tests bench gemm vs-torch bench-train bench-train-768 train)

usage() {
    cat <<EOF
usage: scripts/gpu-check.sh [OPTIONS] OUTDIR [BUILD_DIR]

Checks and measures the OpenCL backend of a built tree (BUILD_DIR, default $root/build) on one
device and writes every result under OUTDIR (created; files of an earlier run are replaced): one
log per step (OUTDIR/STEP.log), the files named below, and OUTDIR/summary.txt + summary.json.
Attach the folder (or at least the two summaries) to a bug report.

steps (in this order; a failed or timed-out step is reported and the next one still runs):
  devices          hrm backends (devices.txt) and hrm backends --validate (devices-validate.txt)
  tests            tests of suite 'opencl' and the conformance and golden tests, each run directly
                   with its meson environment and timeout; tests/NAME.log, tests.json
  bench            hrm bench --backend opencl --device D --json bench.json
  gemm             hrm bench gemm --n 4096 (quick: 256): GFLOP/s at fp32, tf32 and bf16 operands,
                   those the device runs (gemm.json)
  vs-torch         scripts/bench-vs-torch.sh, C on OpenCL beside PyTorch on CUDA (vs-torch.json);
                   skipped unless python3's torch sees a GPU
  bench-train      hrm bench train --model both (bench-train.json)
  bench-train-768  hrm bench train --model sudoku --batch 768 (bench-train-768.json)
  train            Sudoku puzzles from the generator, hrm data build, hrm train on the device,
                   hrm eval (train/, eval.json): accuracy and training time

options:
  --quick            (or QUICK=1) everything smaller, for CI on PoCL: a few fast tests, hrm bench
                     --quick, bench-train of the small model for 1 step, no bench-train-768, a tiny
                     training run; a couple of minutes on 2 CPU cores
  --device D         (or GPU_CHECK_DEVICE) the OpenCL device, as hrm's --device takes it: an index
                     or a part of its name (default: the first GPU listed, else device 0)
  --only S1,S2       run only these steps (or GPU_CHECK_ONLY); the others are SKIP
  --skip S1,S2       skip these steps (or GPU_CHECK_SKIP)
  --timeout STEP=S   time limit of a step in seconds (repeatable; or GPU_CHECK_TIMEOUTS="STEP=S ...");
                     defaults: devices 300, tests 2400, bench 1200, gemm 300, vs-torch 2400,
                     bench-train 900, bench-train-768 900, train 1200 (quick: 120, 300, 300, 120,
                     600, 180, -, 300)
  --tests REGEX      run only the tests whose name matches (or GPU_CHECK_TESTS; the rest are listed
                     as not selected); each test keeps its own meson timeout
  --help             show this help

environment: CK_FORK (check's fork mode, the default, is what CI runs and works on NVIDIA since the
test programs find their plugins in a child: tests/discover.c), HRM_*
as for hrm; the training run's size: GPU_CHECK_TRAIN_PUZZLES (2000; quick 200), _HOLDOUT (250;
50), _EPOCHS (8; 3), _BATCH (64; 32). The tests use device 0 of each backend whatever --device
says: limit the OpenCL drivers (OCL_ICD_VENDORS) to test another one.
EOF
}

# ---- the Python half: parses hrm's output, runs the tests, writes the summary ------------------
PY=$(
    cat <<'PYEOF'
import json, os, re, shlex, signal, subprocess, sys, time

def parse_backends(path):
    """`hrm backends [--validate]` output -> a list of devices."""
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return []
    devs, backend, cannot_open = [], None, None
    for line in lines:
        m = re.match(r"^(\S+)\s+(usable|declined|refused)\s+score\s+-?\d+\s", line)
        if m:
            backend, cannot_open = m[1], None
            continue
        m = re.match(r"^      cannot open: (.*)$", line)  # printed before its device's lines
        if m:
            cannot_open = m[1]
            continue
        m = re.match(r"^    device (\d+): (.*)$", line)
        if m and backend:
            devs.append({"backend": backend, "index": int(m[1]), "name": m[2].strip(), "vendor": None,
                         "driver": None, "memory_gib": None, "compute_units": None, "type": None,
                         "platform": None, "validation": None, "note": None})
            if cannot_open:
                devs[-1]["validation"], devs[-1]["note"], cannot_open = "cannot open", cannot_open, None
            continue
        if not devs or devs[-1]["backend"] != backend:
            continue
        d = devs[-1]
        m = re.match(r"^      vendor (.*?), driver (.*)$", line)
        if m:
            d["vendor"], d["driver"] = m[1], m[2]
            continue
        m = re.match(r"^      memory ([0-9.]+ GiB|-), (\d+) compute units$", line)
        if m:
            d["memory_gib"] = float(m[1].split()[0]) if m[1] != "-" else None
            d["compute_units"] = int(m[2])
            continue
        m = re.match(r"^      (validated|FAILED validation|not validated)(?:: (.*))?$", line)
        if m:
            if d["validation"] != "cannot open":
                d["validation"], d["note"] = m[1], m[2]
            p = re.search(r"platform \d+ \((.*?)\), (GPU|CPU|accelerator)", m[2] or "")
            if p:
                d["platform"], d["type"] = p[1], p[2]
    return devs

def cmd_select(path):
    """The default device: the first OpenCL GPU, else OpenCL device 0."""
    ocl = [d for d in parse_backends(path) if d["backend"] == "opencl"]
    if not ocl:
        return 1
    gpus = [d for d in ocl if d["type"] == "GPU"]
    print((gpus or ocl)[0]["index"])
    return 0

def cmd_check_devices(path):
    devs = parse_backends(path)
    bad = 0
    if not any(d["backend"] == "opencl" for d in devs):
        print(f"gpu-check: {path}: no usable OpenCL backend with a device")
        bad = 1
    for d in devs:
        if d["validation"] in ("FAILED validation", "cannot open"):
            print(f"gpu-check: {d['backend']}/{d['index']} ({d['name']}): {d['validation']}: {d['note']}")
            bad = 1
    print(f"gpu-check: {len(devs)} devices, {sum(d['validation'] == 'validated' for d in devs)} validated")
    return bad

# ---- tests -------------------------------------------------------------------------------------
def path_mapper(build, root):
    """The tests name absolute paths of where the tree was built; map them to where it is now."""
    try:
        dirs = json.load(open(os.path.join(build, "meson-info", "meson-info.json")))["directories"]
        old_build, old_src = dirs["build"], dirs["source"]
    except (OSError, ValueError, KeyError):
        return lambda s: s
    if os.path.realpath(old_build) == os.path.realpath(build):
        return lambda s: s
    token = "\0build\0"
    return lambda s: s.replace(old_build, token).replace(old_src, root).replace(token, build)

current = []  # the test running now, killed with its process group if we are

def on_term(signum, frame):
    for p in current:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    sys.exit(1)

def run_test(t, build, mapped, log):
    """Runs one test with its meson environment and timeout; returns its result."""
    env = dict(os.environ)
    for k, v in (t.get("env") or {}).items():
        v = mapped(v)
        env[k] = v + os.pathsep + env[k] if k.endswith("PATH") and env.get(k) else v
    cmd = [mapped(c) for c in t["cmd"]]
    cwd = mapped(t.get("workdir") or build)
    limit = t.get("timeout") or 0
    r = {"name": t["name"], "status": "FAIL", "exit_code": None, "timed_out": False, "seconds": 0.0,
         "timeout": limit or None, "checks": None, "log": os.path.relpath(log, os.path.dirname(os.path.dirname(log))),
         "reason": None}
    start = time.time()
    with open(log, "w") as f:
        f.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n# cwd " + cwd + "; env " +
                " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted((t.get("env") or {}).items())) +
                f" CK_FORK={env.get('CK_FORK', '(fork mode)')}\n")
        f.flush()
        try:
            p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            r["reason"] = f"cannot run: {e}"
            return r
        current.append(p)
        try:
            r["exit_code"] = p.wait(timeout=limit if limit > 0 else None)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            r["timed_out"] = True
        current.clear()
    r["seconds"] = round(time.time() - start, 2)
    text = open(log, errors="replace").read()
    checks = re.findall(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)", text)
    if checks:
        n, fl, er = (sum(int(c[i]) for c in checks) for i in range(3))
        r["checks"] = {"run": n, "passed": n - fl - er, "failed": fl + er}
    if r["timed_out"]:
        r["reason"] = f"timed out after {limit} s"
    elif r["exit_code"] == 0:
        r["status"] = "PASS"
    elif r["exit_code"] == 77:
        r["status"], r["reason"] = "SKIP", "exit 77 (skipped by the test)"
        last = [l for l in text.splitlines()[2:] if l.strip()]
        if last:
            r["reason"] += ": " + last[-1].strip()[:160]
    else:
        r["reason"] = f"exit {r['exit_code']}"
    return r

def cmd_tests(build, root, out, pattern):
    intro = os.path.join(build, "meson-info", "intro-tests.json")
    try:
        tests = json.load(open(intro))
    except (OSError, ValueError) as e:
        print(f"gpu-check: {intro}: {e}")
        return 1
    def wanted(t):
        suites = [s.split(":")[-1] for s in t.get("suite") or []]
        if any("gpu-check" in c for c in t["cmd"]):
            return False  # this script's own test: it would run this script again
        return "opencl" in suites or t["name"] in ("conformance", "golden")
    chosen = [t for t in tests if wanted(t)]
    if not any(t["name"].startswith("opencl") or "opencl" in str(t.get("suite")) for t in chosen):
        print(f"gpu-check: {intro}: no tests of suite 'opencl' (was the OpenCL plugin built?)")
        return 1
    signal.signal(signal.SIGTERM, on_term)
    os.makedirs(os.path.join(out, "tests"), exist_ok=True)
    mapped = path_mapper(build, root)
    results = []
    for t in chosen:
        if pattern and not re.search(pattern, t["name"]):
            results.append({"name": t["name"], "status": "NOT RUN", "reason": "not selected"})
            continue
        log = os.path.join(out, "tests", re.sub(r"[^A-Za-z0-9._-]", "_", t["name"]) + ".log")
        print(f"gpu-check: test {t['name']} ...", flush=True)
        r = run_test(t, build, mapped, log)
        results.append(r)
        print(f"gpu-check: test {t['name']}: {r['status']} ({r['seconds']:.1f} s)" +
              (f": {r['reason']}" if r["reason"] else ""), flush=True)
        with open(os.path.join(out, "tests.json.tmp"), "w") as f:
            json.dump({"tests": results, "pattern": pattern or None}, f, indent=2)
        os.replace(os.path.join(out, "tests.json.tmp"), os.path.join(out, "tests.json"))
    with open(os.path.join(out, "tests.json"), "w") as f:
        json.dump({"tests": results, "pattern": pattern or None}, f, indent=2)
    ran = [r for r in results if r["status"] != "NOT RUN"]
    failed = [r for r in ran if r["status"] == "FAIL"]
    print(f"gpu-check: tests: {sum(r['status'] == 'PASS' for r in ran)} passed, {len(failed)} failed, "
          f"{sum(r['status'] == 'SKIP' for r in ran)} skipped, {len(results) - len(ran)} not selected")
    return 1 if failed or not any(r["status"] == "PASS" for r in ran) else 0

# ---- summary -----------------------------------------------------------------------------------
def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def bench_result(out):
    r = load_json(os.path.join(out, "bench.json"))
    if not r or not r.get("runs"):
        return None
    run = r["runs"][0]
    res = {"device": run.get("device"), "peak_gflops": run.get("peak_gflops"), "peak_gbps": run.get("peak_gbps"),
           "peak_gbps_resident": run.get("peak_gbps_resident"), "git_commit": r.get("git_commit"),
           "failed_entries": [e["name"] for e in run.get("entries", []) if e.get("status") == "failed"],
           "models": {}}
    for e in run.get("entries", []):
        m = re.match(r"^(train step|eval segment) (\S+)$", e.get("name", ""))
        if m:
            res["models"].setdefault(m[2], {})[m[1].replace(" ", "_")] = {
                "samples_per_s": e.get("median"), "mfu": e.get("fraction_of_peak"), "status": e.get("status"),
                "reason": e.get("reason")}
    return res

def bench_train_result(out, name):
    r = load_json(os.path.join(out, name))
    if not r:
        return None
    peak = r.get("peak") or {}
    return {"peak_gflops": peak.get("gflops"), "peak_kind": peak.get("kind"),
            "models": [{k: m.get(k) for k in ("model", "batch", "params", "train_samples_per_s", "eval_samples_per_s",
                                              "mfu_train", "mfu_eval", "memory_grows")}
                       for m in r.get("models", [])]}

def torch_result(v):
    """vs-torch.json: per configuration ours/torch train and eval ratios (fp32), ours/torch train for
    every dtype torch ran, and the errors of rows that failed; else any 'ratio' numbers found."""
    if not isinstance(v, dict) or not isinstance(v.get("models"), dict):
        return {"ratios": ratios(v)}
    res = {"torch_device": v.get("torch_device"), "configs": {}, "targets": v.get("targets")}
    for cfg, d in v["models"].items():
        r = {"train_ratio": d.get("train_ratio"), "eval_ratio": d.get("eval_ratio"), "ours_train": d.get("c_train"),
             "mfu_train": d.get("mfu_train"), "errors": [d[k] for k in ("c_error", "torch_error") if d.get(k)]}
        for dt, t in (d.get("torch") or {}).items():
            o = (d.get("ours") or {}).get(dt)  # ours at the same dtype (bench-vs-torch.sh since issue 12)
            ours = o["train"] if o else d.get("c_train") if dt == "fp32" else None
            if t and t.get("train") and ours:
                r[f"train_ratio_{dt}"] = ours / t["train"]
            if o:
                r[f"ours_ran_{dt}"] = o.get("ran")
        res["configs"][cfg] = r
    return res

def ratios(x, path=()):
    """Every number under a key with 'ratio' in its name, wherever vs-torch.json keeps it."""
    found = {}
    if isinstance(x, dict):
        for k, v in x.items():
            if "ratio" in str(k) and isinstance(v, (int, float)) and not isinstance(v, bool):
                found["/".join(path + (str(k),))] = v
            else:
                found.update(ratios(v, path + (str(k),)))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            found.update(ratios(v, path + (str(i),)))
    return found

def train_result(out):
    ev, tr = load_json(os.path.join(out, "eval.json")), load_json(os.path.join(out, "train", "train.json"))
    if not ev and not tr:
        return None
    res = dict(tr or {})
    if ev:
        res.update({"exact_accuracy": ev.get("exact_accuracy"), "token_accuracy": ev.get("accuracy"),
                    "verified": ev.get("verified"), "eval_examples": ev.get("count"), "eval_loss": ev.get("lm_loss")})
    rates, loss = [], None
    try:
        for line in open(os.path.join(out, "train", "run", "metrics.jsonl")):
            m = json.loads(line)
            if "samples_per_s" in m and m.get("step", 0) > 1:  # step 1 pays the kernel builds
                rates.append(m["samples_per_s"])
            if "train/loss" in m:
                loss = m["train/loss"]
    except (OSError, ValueError):
        pass
    if rates:
        res["train_samples_per_s_median"] = sorted(rates)[len(rates) // 2]
    res["final_train_loss"] = loss
    return res

def fmt(v, spec=".3g", unit=""):
    return "-" if v is None else f"{v:{spec}}{unit}"

def pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"

def step_line(s):
    r = s.get("results") or {}
    n = s["name"]
    if n == "devices" and r:
        return f"{r['devices']} devices, {r['validated']} validated, {r['failed']} failed or not opened"
    if n == "tests" and r:
        t = (f"{r['passed']} passed, {r['failed']} failed, {r['skipped']} skipped"
             + (f", {r['not_selected']} not selected" if r["not_selected"] else ""))
        if r["checks_run"]:
            t += f"; check cases {r['checks_passed']}/{r['checks_run']}"
        return t
    if n == "bench" and r:
        t = (f"GEMM peak {fmt(r['peak_gflops'], '.1f')} GFLOP/s, bandwidth {fmt(r['peak_gbps'], '.1f')} GB/s "
             f"(activation-sized {fmt(r['peak_gbps_resident'], '.1f')})")
        for m, d in r["models"].items():
            ts = d.get("train_step") or {}
            if ts.get("status") == "ok":
                t += f"; train {m} {fmt(ts['samples_per_s'], '.4g')} samples/s, MFU {pct(ts['mfu'])}"
        if r["failed_entries"]:
            t += f"; failed: {', '.join(r['failed_entries'])}"
        return t
    if n == "gemm" and r:
        return f"{r['n']}^3: " + ", ".join(
            f"{x['operands']} {fmt(x['gflops'] / 1e3, '.1f')} TFLOP/s" if x.get("gflops") else
            f"{x['operands']} {'not run' if not x.get('ran') else 'FAILED'}" for x in r["rows"] or [])
    if n == "vs-torch" and r:
        if "configs" not in r:
            rs = r.get("ratios") or {}
            return "ratios ours/torch: " + (", ".join(f"{k} {v:.2f}x" for k, v in rs.items()) or "none found")
        parts = []
        for cfg, c in r["configs"].items():
            if c["errors"]:
                parts.append(f"{cfg} failed: {'; '.join(c['errors'])}")
                continue
            dts = ", ".join(f"{k[12:]} {v:.2f}x" for k, v in c.items() if k.startswith("train_ratio_") and v)
            parts.append(f"{cfg} train {fmt(c['train_ratio'], '.2f')}x ({dts}), eval {fmt(c['eval_ratio'], '.2f')}x")
        return f"ours/torch on {r['torch_device']}: " + "; ".join(parts)
    if n.startswith("bench-train") and r:
        parts = [f"{m['model']} b{m['batch']}: {fmt(m['train_samples_per_s'], '.4g')} train samples/s, "
                 f"MFU {pct(m['mfu_train'])}" for m in r["models"]]
        return "; ".join(parts) + f" (peak {fmt(r['peak_gflops'], '.1f')} GFLOP/s)"
    if n == "train" and r:
        t = (f"exact {pct(r.get('exact_accuracy'))}, token {pct(r.get('token_accuracy'))} on "
             f"{r.get('eval_examples', '-')} held-out; ")
        t += (f"{r.get('steps', '-')} steps in {fmt(r.get('train_seconds'), '.1f')} s, "
              f"{fmt(r.get('train_samples_per_s_median'), '.4g')} samples/s")
        return t
    return ""

def cmd_summary(out, meta_path, final="1"):
    """Writes summary.json and summary.txt from steps.tsv and the steps' files; also after each step
    (final 0, nothing printed), so that a run killed outright still leaves the steps it finished."""
    meta, final = load_json(meta_path) or {}, final == "1"
    steps = []
    for line in open(os.path.join(out, "steps.tsv")):
        name, status, seconds, code, reason = (line.rstrip("\n").split("\t") + [""] * 5)[:5]
        steps.append({"name": name, "status": status, "seconds": float(seconds) if seconds else None,
                      "exit_code": int(code) if code else None, "reason": reason or None,
                      "log": f"{name}.log" if status != "SKIP" or code else None, "results": None})
    for s in steps:
        if s["status"] == "SKIP" and s["exit_code"] is None:
            continue
        n = s["name"]
        if n == "devices":
            devs = parse_backends(os.path.join(out, "devices-validate.txt"))
            s["results"] = {"devices": len(devs), "validated": sum(d["validation"] == "validated" for d in devs),
                            "failed": sum(d["validation"] in ("FAILED validation", "cannot open") for d in devs)}
        elif n == "tests":
            t = load_json(os.path.join(out, "tests.json"))
            if t:
                ts = t["tests"]
                ck = [x["checks"] for x in ts if x.get("checks")]
                s["results"] = {"passed": sum(x["status"] == "PASS" for x in ts),
                                "failed": sum(x["status"] == "FAIL" for x in ts),
                                "skipped": sum(x["status"] == "SKIP" for x in ts),
                                "not_selected": sum(x["status"] == "NOT RUN" for x in ts),
                                "checks_run": sum(c["run"] for c in ck), "checks_passed": sum(c["passed"] for c in ck),
                                "tests": ts}
        elif n == "bench":
            s["results"] = bench_result(out)
        elif n == "gemm":
            g = load_json(os.path.join(out, "gemm.json"))
            s["results"] = {"n": g.get("n"), "rows": g.get("results")} if g else None
        elif n == "vs-torch":
            v = load_json(os.path.join(out, "vs-torch.json"))
            s["results"] = torch_result(v) if v is not None else None
        elif n == "bench-train":
            s["results"] = bench_train_result(out, "bench-train.json")
        elif n == "bench-train-768":
            s["results"] = bench_train_result(out, "bench-train-768.json")
        elif n == "train":
            s["results"] = train_result(out)
    devs = parse_backends(os.path.join(out, "devices-validate.txt")) or parse_backends(os.path.join(out, "devices.txt"))
    commit = meta.get("git_commit")
    b = next((s["results"] for s in steps if s["name"] == "bench" and s["results"]), None)
    if not commit and b and b.get("git_commit") not in (None, "unknown"):
        commit = b["git_commit"] + " (from the build)"
    ran = [s for s in steps if not (s["status"] == "SKIP" and s["exit_code"] is None)]
    failed = [s["name"] for s in steps if s["status"] == "FAIL"]
    summary = {"format": "hrm-gpu-check", "format_version": 1, "date": meta.get("date"),
               "hostname": meta.get("hostname"), "git_commit": commit or "unknown",
               "hrm_version": meta.get("hrm_version"), "quick": meta.get("quick"), "build_dir": meta.get("build_dir"),
               "machine": meta.get("machine"), "device": dict(meta.get("device") or {}), "devices": devs,
               "steps": steps, "passed": sum(s["status"] == "PASS" for s in steps), "failed": len(failed),
               "skipped": sum(s["status"] == "SKIP" for s in steps), "interrupted": meta.get("interrupted", False),
               "exit_status": 1 if failed or meta.get("interrupted") else 0, "complete": final}
    sel = summary["device"]
    d = next((x for x in devs if x["backend"] == "opencl" and str(x["index"]) == str(sel.get("option"))), None)
    if d:
        sel.update({"index": d["index"], "name": d["name"], "type": d["type"], "platform": d["platform"]})
    with open(os.path.join(out, "summary.json.tmp"), "w") as f:
        json.dump(summary, f, indent=2)
    os.replace(os.path.join(out, "summary.json.tmp"), os.path.join(out, "summary.json"))

    m = meta.get("machine") or {}
    L = [f"hrm gpu-check{' --quick' if meta.get('quick') else ''}: {summary['date']}, host {summary['hostname']}, "
         f"commit {summary['git_commit']}, {summary['hrm_version']}",
         f"machine: {m.get('os')}; {m.get('cpu')}, {m.get('cores')} cores; GPUs: {m.get('gpus') or '-'}",
         f"device under test: opencl --device {sel.get('option')}" +
         (f" = {d['index']}: {d['name']} ({d['type']}, platform {d['platform']})" if d else
          " (not found in hrm backends)") + (f"; chosen by {sel['chosen_by']}" if sel.get("chosen_by") else ""),
         "devices (hrm backends --validate):"]
    for x in devs:
        L.append(f"  {x['backend']}/{x['index']}  {x['name']}  [{x['vendor']}, driver {x['driver']}, "
                 f"{fmt(x['memory_gib'], '.1f')} GiB]  {x['validation']}" + (f": {x['note']}" if x["note"] else ""))
    if not devs:
        L.append("  none listed")
    L += ["", f"{'step':<16} {'status':<6} {'time':>8}  result"]
    for s in steps:
        t = "-" if s["seconds"] is None else f"{s['seconds']:.1f}s"
        line = step_line(s)
        if s["reason"]:
            line = s["reason"] + ("; " + line if line else "")
        L.append(f"{s['name']:<16} {s['status']:<6} {t:>8}  {line}")
    tr = next((s["results"] for s in steps if s["name"] == "tests" and s["results"]), None)
    if tr:
        L += ["", "tests:"]
        for x in tr["tests"]:
            ck = x.get("checks")
            L.append((f"  {x['status']:<7} {x['name']:<24} " +
                      (f"{'':8}" if x.get("seconds") is None else f"{x['seconds']:7.1f}s") +
                      (f"  checks {ck['passed']}/{ck['run']}" if ck else "") +
                      (f"  {x['reason']}" if x.get("reason") else "")).rstrip())
    L += ["", f"result: {summary['passed']} passed, {summary['failed']} failed" +
          (f" ({', '.join(failed)})" if failed else "") + f", {summary['skipped']} skipped" +
          (", interrupted" if summary["interrupted"] else "") +
          (f"; exit status {summary['exit_status']}" if final else
           f"; PARTIAL: written after step {steps[-1]['name'] if steps else '-'}, the run did not finish (yet)"),
          f"files: {out}/ (STEP.log for each step; summary.json holds all of this)"]
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write("\n".join(L) + "\n")
    if final:
        print("\n".join(L))
    return 0

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "select":
        sys.exit(cmd_select(*args))
    if cmd == "check-devices":
        sys.exit(cmd_check_devices(*args))
    if cmd == "tests":
        sys.exit(cmd_tests(*args))
    if cmd == "summary":
        sys.exit(cmd_summary(*args))
    sys.exit(f"gpu-check: unknown helper {cmd}")
PYEOF
)

py() { python3 -c "$PY" "$@"; }
# seconds from $1 to $3 (default: now), printed with format $2; times as date +%s.%N gives them
since() { awk -v a="$1" -v b="${3:-$(date +%s.%N)}" -v f="$2" 'BEGIN { printf f, b - a }'; }

# ---- the steps: each runs as `gpu-check.sh __step NAME ...` under timeout, output to its log -----
# Exit 0: PASS, 77: SKIP, anything else: FAIL.

step_devices() {
    "$hrm" backends --validate >"$out/devices-validate.txt" 2>&1
    local rc=$?
    cat "$out/devices-validate.txt"
    py check-devices "$out/devices-validate.txt" || return 1
    [ "$rc" -eq 0 ] || { echo "gpu-check: hrm backends --validate exited $rc"; return 1; }
}

step_tests() {
    py tests "$build" "$root" "$out" "$tests_re"
}

step_bench() {
    local q=()
    [ "$quick" = 1 ] && q=(--quick)
    "$hrm" bench --backend opencl --device "$device" --json "$out/bench.json" "${q[@]}"
}

step_gemm() {
    local n=4096
    [ "$quick" = 1 ] && n=256
    "$hrm" bench gemm --backend opencl --device "$device" --n "$n" --json "$out/gemm.json"
}

step_vs_torch() {
    if ! python3 -c 'import torch' 2>/dev/null; then
        echo "gpu-check: python3 ($(command -v python3)) cannot import torch"
        return 77
    fi
    if ! python3 -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        echo "gpu-check: python3's torch sees no GPU (torch.cuda.is_available() is False)"
        return 77
    fi
    local configs="small:32 sudoku:8 sudoku:768" dtypes="fp32 tf32 bf16"
    [ "$quick" = 1 ] && configs="small:32" dtypes="fp32"
    PYTHON=$(command -v python3) BACKEND=opencl TORCH_DEVICE=cuda CONFIGS=$configs \
        DTYPES=$dtypes ROUNDS=1 JSON_OUT="$out/vs-torch.json" "$root/scripts/bench-vs-torch.sh" "$build"
}

step_bench_train() {
    local args=(--model both)
    [ "$quick" = 1 ] && args=(--model small --steps 1 --no-memory)
    "$hrm" bench train --backend opencl --device "$device" "${args[@]}" --json "$out/bench-train.json"
}

step_bench_train_768() {
    "$hrm" bench train --backend opencl --device "$device" --model sudoku --batch 768 \
        --json "$out/bench-train-768.json"
}

# The demo's recipe (scripts/demo.sh), smaller: the demo's model (hidden 128, 2+2 layers, 2x2
# cycles, 4 segments) on fewer puzzles for fewer epochs; quick: a hidden-32 model of 1+1 layers.
step_train() {
    local dir=$out/train puzzles holdout epochs batch warmup arch start end steps ckpt
    if [ "$quick" = 1 ]; then
        puzzles=${GPU_CHECK_TRAIN_PUZZLES:-200} holdout=${GPU_CHECK_TRAIN_HOLDOUT:-50}
        epochs=${GPU_CHECK_TRAIN_EPOCHS:-3} batch=${GPU_CHECK_TRAIN_BATCH:-32} warmup=3
        arch=(arch.hidden_size=32 arch.num_heads=2 arch.H_layers=1 arch.L_layers=1 arch.H_cycles=1
            arch.L_cycles=1 arch.halt_max_steps=2)
    else
        puzzles=${GPU_CHECK_TRAIN_PUZZLES:-2000} holdout=${GPU_CHECK_TRAIN_HOLDOUT:-250}
        epochs=${GPU_CHECK_TRAIN_EPOCHS:-8} batch=${GPU_CHECK_TRAIN_BATCH:-64} warmup=20
        arch=(arch.hidden_size=128 arch.num_heads=2 arch.H_layers=2 arch.L_layers=2 arch.H_cycles=2
            arch.L_cycles=2 arch.halt_max_steps=4)
    fi
    mkdir -p "$dir"
    echo "== $puzzles generated Sudoku puzzles (75 givens), $holdout held out"
    "$hrm" data generate sudoku --count "$puzzles" --givens 75 --seed 1 --out "$dir/puzzles.csv" || return 1
    "$hrm" data build sudoku --train "$dir/puzzles.csv" --holdout "$holdout" --seed 1 --out "$dir/data" \
        --force || return 1
    echo "== hrm train on opencl --device $device: $epochs epochs in batches of $batch"
    start=$(date +%s.%N)
    "$hrm" train data_path="$dir/data" checkpoint_path="$dir/run" backend=opencl device="$device" \
        "${arch[@]}" arch.puzzle_emb_ndim=0 global_batch_size="$batch" lr=2e-3 lr_warmup_steps="$warmup" \
        lr_min_ratio=0.1 weight_decay=0.1 arch.loss.loss_type=softmax_cross_entropy epochs="$epochs" \
        eval_interval="$epochs" seed=0 log_interval=10 checkpoint_every_eval=false || return 1
    end=$(date +%s.%N)
    ckpt=$(printf '%s\n' "$dir"/run/step_*.safetensors | sort -V | tail -n 1)
    steps=${ckpt##*/step_}
    steps=${steps%.safetensors}
    printf '{"train_seconds": %.2f, "steps": %d, "puzzles": %d, "held_out": %d, "epochs": %d, "batch": %d}\n' \
        "$(since "$start" %.2f "$end")" "$steps" "$puzzles" "$holdout" "$epochs" "$batch" >"$dir/train.json"
    echo "== hrm eval on the $holdout held-out puzzles ($ckpt)"
    "$hrm" eval --checkpoint "$ckpt" --data "$dir/data" --backend opencl --device "$device" >"$out/eval.json" ||
        return 1
    cat "$out/eval.json"
}

if [ "${1:-}" = __step ]; then
    # internal: __step NAME OUTDIR BUILD_DIR DEVICE QUICK TESTS_REGEX
    name=$2 out=$3 build=$4 device=$5 quick=$6 tests_re=$7
    hrm=$build/tools/hrm
    echo "gpu-check: step $name, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    "step_${name//-/_}"
    rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || rc=1 # 124 and 137 mean the time limit, only that
    exit "$rc"
fi

# ---- options -----------------------------------------------------------------------------------
quick=${QUICK:-0}
[ "$quick" = 0 ] || [ -z "$quick" ] || quick=1
device=${GPU_CHECK_DEVICE:-}
only=${GPU_CHECK_ONLY:-}
skip=${GPU_CHECK_SKIP:-}
tests_re=${GPU_CHECK_TESTS:-}
timeouts=${GPU_CHECK_TIMEOUTS:-}
pos=()
bad_usage() {
    echo "gpu-check: $*; scripts/gpu-check.sh --help for usage" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --quick) quick=1 ;;
    --device | --only | --skip | --timeout | --tests)
        [ $# -ge 2 ] || bad_usage "$1 needs a value"
        case $1 in
        --device) device=$2 ;;
        --only) only=$2 ;;
        --skip) skip=$2 ;;
        --timeout) timeouts="$timeouts $2" ;;
        --tests) tests_re=$2 ;;
        esac
        shift ;;
    --*) bad_usage "unknown option $1" ;;
    *) pos+=("$1") ;;
    esac
    shift
done
if [ ${#pos[@]} -lt 1 ] || [ ${#pos[@]} -gt 2 ]; then bad_usage "want OUTDIR [BUILD_DIR]"; fi
command -v python3 >/dev/null || bad_usage "python3 is needed (it parses results and writes the summary)"
command -v timeout >/dev/null || bad_usage "timeout (coreutils) is needed"
build=${pos[1]:-$root/build}
[ -x "$build/tools/hrm" ] || bad_usage "$build/tools/hrm not found (build first: meson setup $build && ninja -C $build)"
build=$(cd "$build" && pwd)
hrm=$build/tools/hrm
mkdir -p "${pos[0]}" || bad_usage "cannot create ${pos[0]}"
out=$(cd "${pos[0]}" && pwd)

declare -A limit=([devices]=300 [tests]=2400 [bench]=1200 [gemm]=300 [vs-torch]=2400 [bench-train]=900
    [bench-train-768]=900 [train]=1200)
[ "$quick" = 1 ] && limit=([devices]=120 [tests]=300 [bench]=300 [gemm]=120 [vs-torch]=600 [bench-train]=180
    [bench-train-768]=900 [train]=300)
is_step() { [[ " ${steps[*]} " == *" $1 "* ]]; }
for kv in $timeouts; do
    k=${kv%%=*} v=${kv#*=}
    is_step "$k" || bad_usage "--timeout $kv: no step $k (steps: ${steps[*]})"
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || bad_usage "--timeout $kv: want whole seconds > 0"
    limit[$k]=$v
done
for s in ${only//,/ } ${skip//,/ }; do
    is_step "$s" || bad_usage "no step $s (steps: ${steps[*]})"
done
if [ -n "$tests_re" ]; then
    python3 -c 'import re,sys; re.compile(sys.argv[1])' "$tests_re" 2>/dev/null || bad_usage "--tests: bad regex $tests_re"
elif [ "$quick" = 1 ]; then
    tests_re='^(golden|opencl-(faults|train-match|device-spec|bad-ids))$'
fi

# ---- the machine and the device ----------------------------------------------------------------
rm -f "$out"/steps.tsv "$out"/summary.txt "$out"/summary.json "$out"/devices*.txt "$out"/tests.json \
    "$out"/bench*.json "$out"/gemm.json "$out"/vs-torch.json "$out"/eval.json "$out"/*.log
rm -rf "$out/tests" "$out/train"
timeout 120 "$hrm" backends >"$out/devices.txt" 2>&1
chosen_by=option
if [ -z "$device" ]; then
    if device=$(py select "$out/devices.txt"); then
        chosen_by="default: the first OpenCL GPU, else device 0"
    else
        device=0 chosen_by="default: hrm backends lists no OpenCL device"
    fi
fi
echo "gpu-check: OpenCL device $device ($chosen_by); results in $out" >&2

commit=
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null)
    [ -n "$(git --no-optional-locks -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] &&
        commit="$commit (with uncommitted changes)"
fi
gpus=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
    paste -sd ';' -)
meta() { # the summary's facts about this run, as JSON
    python3 - "$@" <<'EOF'
import json, sys
keys = ["date", "hostname", "git_commit", "hrm_version", "quick", "build_dir", "os", "cpu", "cores", "gpus",
        "device", "chosen_by", "interrupted"]
v = dict(zip(keys, sys.argv[1:]))
print(json.dumps({"date": v["date"], "hostname": v["hostname"], "git_commit": v["git_commit"] or None,
                  "hrm_version": v["hrm_version"], "quick": v["quick"] == "1", "build_dir": v["build_dir"],
                  "machine": {"os": v["os"], "cpu": v["cpu"], "cores": int(v["cores"]), "gpus": v["gpus"] or None},
                  "device": {"option": v["device"], "chosen_by": v["chosen_by"]},
                  "interrupted": v["interrupted"] == "1"}))
EOF
}
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
host=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
version=$("$hrm" --version 2>/dev/null)
# $1: 1 for the final summary (printed), 0 for the one kept up to date after each step
write_summary() {
    meta "$date" "$host" "$commit" "$version" "$quick" "$build" "$(uname -srm)" "${cpu:-unknown}" "$(nproc)" \
        "$gpus" "$device" "$chosen_by" "$interrupted" >"$out/run.json" && py summary "$out" "$out/run.json" "$1"
}

# ---- run the steps -----------------------------------------------------------------------------
child='' interrupted=0
trap 'interrupted=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' INT TERM
listed() { [[ ",$1," == *",$2,"* ]]; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$out/steps.tsv"; }

for s in "${steps[@]}"; do
    why=
    if [ "$interrupted" = 1 ]; then why="interrupted"
    elif [ -n "$only" ] && ! listed "$only" "$s"; then why="not selected (--only)"
    elif listed "$skip" "$s"; then why="skipped (--skip)"
    elif [ "$quick" = 1 ] && [ "$s" = bench-train-768 ]; then why="quick mode"
    fi
    if [ -n "$why" ]; then
        record "$s" SKIP "" "" "$why"
        printf 'gpu-check: %-16s SKIP  %s\n' "$s" "$why" >&2
        continue
    fi
    printf 'gpu-check: %-16s ... (limit %s s, log %s)\n' "$s" "${limit[$s]}" "$out/$s.log" >&2
    start=$(date +%s.%N)
    timeout -k 10 "${limit[$s]}" "$BASH" "$self" __step "$s" "$out" "$build" "$device" "$quick" "$tests_re" \
        >"$out/$s.log" 2>&1 </dev/null &
    child=$!
    rc=
    while [ -z "$rc" ]; do
        wait "$child"
        rc=$?
        # a trap interrupts wait; the step is still running (or finishing) then
        if [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; then rc=; fi
    done
    child=
    secs=$(since "$start" %.1f)
    case $rc in
    0) status=PASS why= ;;
    77) status=SKIP why=$(grep '^gpu-check: ' "$out/$s.log" | tail -n 1 | sed 's/^gpu-check: //') ;;
    124 | 137) status=FAIL why="timed out after ${limit[$s]} s" ;;
    *) status=FAIL why="exit $rc" ;;
    esac
    [ "$interrupted" = 1 ] && status=FAIL why="interrupted"
    record "$s" "$status" "$secs" "$rc" "$why"
    printf 'gpu-check: %-16s %-5s %s s%s\n' "$s" "$status" "$secs" "${why:+  $why}" >&2
    write_summary 0 >/dev/null
done
trap - INT TERM

echo >&2
write_summary 1 || { echo "gpu-check: could not write the summary" >&2; exit 1; }
grep -q $'\tFAIL\t' "$out/steps.tsv" && exit 1
[ "$interrupted" = 1 ] && exit 1
exit 0
