"""GPU validation of jobcarbon (run through bench/gpu/validate.sh, which documents the flags).

1. Latency of one call to nvmlDeviceGetTotalEnergyConsumption, nvmlDeviceGetPowerUsage and the
   instant-power field value (nvmlDeviceGetFieldValues, NVML_FI_DEV_POWER_INSTANT).
2. How often the energy counter actually changes: tight polling for a few seconds.
3. A workload (ResNet-50 on synthetic data) under `jobcarbon run --json`, with NVML's energy
   counter read independently just before and just after; jobcarbon's energy of the GPU compared
   with that delta, after allowing for the moments outside jobcarbon's window (its start-up
   before the first sample and its report after the last) at the GPU's power at the edges.
Prints a table ending in "validation summary"; exits 1 when the two energies disagree.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvml_reader  # noqa: E402


def latency(fn, budget_s, max_calls=5000, min_calls=20):
    """Return (median µs, p99 µs, calls) of fn(), or the reason it is unsupported."""
    try:
        fn()  # the first call may load or wake something: not timed
    except nvml_reader.Unsupported as e:
        return str(e)
    times = []
    end = time.perf_counter() + budget_s
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() < end):
        t = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t) / 1e3)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))], len(times)


def counter_changes(reader, h, seconds):
    """Poll the energy counter as fast as possible; return a dict describing its changes."""
    samples = []
    end = time.monotonic() + seconds
    while True:
        t = time.monotonic()
        if t >= end:
            break
        samples.append((t, reader.energy_mj(h)))
    change_times, steps = [], []
    for (_, v0), (t1, v1) in zip(samples, samples[1:]):
        if v1 != v0:
            change_times.append(t1)
            steps.append(v1 - v0)
    gaps = [b - a for a, b in zip(change_times, change_times[1:])]
    return {
        "polls": len(samples),
        "seconds": seconds,
        "poll_us": 1e6 * seconds / max(1, len(samples)),
        "distinct": len(set(v for _, v in samples)),
        "changes": len(change_times),
        "mean_interval_ms": 1e3 * statistics.mean(gaps) if gaps else None,
        "median_interval_ms": 1e3 * statistics.median(gaps) if gaps else None,
        "mean_step_mj": statistics.mean(steps) if steps else None,
    }


def fmt_latency(r):
    if isinstance(r, str):
        return f"{'unsupported':>10}   {r}"
    med, p99, n = r
    return f"{med:10.2f} {p99:10.2f} {n:8d}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobcarbon", required=True, nargs="+", help="command that runs jobcarbon")
    ap.add_argument("--nvml-lib", default=None)
    ap.add_argument("--backend", choices=("auto", "pynvml", "ctypes"), default="auto")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--poll-seconds", type=float, default=2.0)
    ap.add_argument("--latency-seconds", type=float, default=1.0)
    ap.add_argument("--interval", default=None, help="jobcarbon --interval")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the workload")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--out", required=True, help="directory for the JSON report and logs")
    args = ap.parse_args()

    reader = nvml_reader.open_reader(args.backend, args.nvml_lib)
    h = reader.handle(args.gpu)
    uuid, name = reader.uuid(h), reader.name(h)
    nvml_lib = args.nvml_lib or nvml_reader.loaded_nvml_path()
    print(f"== NVML through {reader.backend} ({nvml_lib or reader.library}); GPU {args.gpu}: "
          f"{name} {uuid}", flush=True)

    print("== call latency", flush=True)
    lat = {
        "nvmlDeviceGetTotalEnergyConsumption": latency(lambda: reader.energy_mj(h), args.latency_seconds),
        "nvmlDeviceGetPowerUsage": latency(lambda: reader.power_mw(h), args.latency_seconds),
        "nvmlDeviceGetFieldValues(POWER_INSTANT)": latency(lambda: reader.power_instant_mw(h),
                                                           args.latency_seconds),
    }
    print(f"== polling the energy counter for {args.poll_seconds} s", flush=True)
    changes = counter_changes(reader, h, args.poll_seconds)

    print(f"== workload under jobcarbon run ({args.seconds} s)", flush=True)
    report = os.path.join(args.out, "jobcarbon.json")
    cmd = list(args.jobcarbon) + ["run", "--json", report, "--ledger",
                                  os.path.join(args.out, "ledger.db")]
    if nvml_lib:
        cmd += ["--nvml-lib", nvml_lib]
    if args.interval:
        cmd += ["--interval", args.interval]
    workload = [args.python, os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_resnet50.py"),
                "--seconds", str(args.seconds)] + (["--tiny"] if args.tiny else [])
    env = dict(os.environ)
    if not args.tiny:
        env["CUDA_VISIBLE_DEVICES"] = uuid  # the workload's cuda:0 is this GPU; jobcarbon charges it
    with open(os.path.join(args.out, "jobcarbon.stderr"), "w") as err:
        p0, e0, t0 = reader.power_mw(h), reader.energy_mj(h), time.monotonic()
        rc = subprocess.run(cmd + ["--"] + workload, stdin=subprocess.DEVNULL, stderr=err,
                            env=env).returncode
        t1, e1, p1 = time.monotonic(), reader.energy_mj(h), reader.power_mw(h)
    reader.close()
    stderr_text = open(os.path.join(args.out, "jobcarbon.stderr")).read()
    if rc != 0:
        sys.stderr.write(stderr_text)
        sys.exit(f"validate: jobcarbon run exited {rc}")
    j = json.load(open(report))
    chan = [c for c in j["channels"] if c["id"] == f"nvml:{uuid}"]
    if not chan:
        sys.stderr.write(stderr_text)
        sys.exit(f"validate: jobcarbon's report has no channel nvml:{uuid}")
    jc_j = chan[0]["energy_uj"] / 1e6
    nvml_j = (e1 - e0) / 1e3
    outer_s, inner_s = t1 - t0, j["duration_s"]
    edge_w = (p0 + p1) / 2 / 1e3
    gap_j = edge_w * max(0.0, outer_s - inner_s)
    unexplained = nvml_j - jc_j - gap_j
    step_j = (changes["mean_step_mj"] or 0) / 1e3
    tolerance = 0.01 * nvml_j + 2 * step_j
    agree = abs(unexplained) <= tolerance

    print("\nvalidation summary")
    print(f"NVML via {reader.backend}; GPU {args.gpu}: {name} {uuid}; jobcarbon: {' '.join(args.jobcarbon)}")
    print(f"{'call latency':42} {'median us':>10} {'p99 us':>10} {'calls':>8}")
    for k, r in lat.items():
        print(f"{k:42} {fmt_latency(r)}")
    c = changes
    print(f"energy counter, polled for {c['seconds']:.1f} s ({c['polls']} polls, one every "
          f"{c['poll_us']:.1f} us): {c['distinct']} distinct values, {c['changes']} changes")
    if c["mean_interval_ms"] is not None:
        print(f"  one change every {c['mean_interval_ms']:.2f} ms on average (median "
              f"{c['median_interval_ms']:.2f} ms), {c['mean_step_mj']:.1f} mJ per change")
    print(f"{'workload':42} {'':>10} {'':>10} {args.seconds:7.1f} s (train_resnet50.py{' --tiny' if args.tiny else ''})")
    rows = [
        ("window: NVML reads before/after (s)", outer_s),
        ("window: jobcarbon duration_s (s)", inner_s),
        ("GPU energy, NVML counter delta (J)", nvml_j),
        ("GPU energy, jobcarbon nvml channel (J)", jc_j),
        ("GPU energy charged to the job, domains.gpu (J)", j["domains"]["gpu"]),
        ("difference NVML - jobcarbon (J)", nvml_j - jc_j),
        (f"outside jobcarbon's window: {edge_w:.1f} W x gap (J)", gap_j),
        ("unexplained (J)", unexplained),
        ("tolerance: 1% + 2 counter steps (J)", tolerance),
    ]
    for label, v in rows:
        print(f"{label:52} {v:14.3f}")
    pct = 100 * unexplained / nvml_j if nvml_j else float("nan")
    print(f"unexplained share of the NVML delta: {pct:+.3f} %")
    print(f"verdict: {'agree' if agree else 'DISAGREE'}")
    summary = {"backend": reader.backend, "gpu": name, "uuid": uuid, "latency": lat,
               "counter": changes, "nvml_j": nvml_j, "jobcarbon_j": jc_j, "outer_s": outer_s,
               "inner_s": inner_s, "gap_j": gap_j, "unexplained_j": unexplained, "agree": agree}
    json.dump(summary, open(os.path.join(args.out, "validation.json"), "w"), indent=1, default=str)
    if args.tiny:
        # The fake's counter advances every 50 ms: the change analysis must see that.
        m = c["mean_interval_ms"]
        if m is None or not 25 <= m <= 100:
            sys.exit(f"validate: expected the fake counter to change every ~50 ms, measured {m}")
    sys.exit(0 if agree else 1)


if __name__ == "__main__":
    main()
