"""GPU validation of the node agent (jobcarbond): runs the agent on a real GPU node, registers a
ResNet-50 training process as a job that owns one GPU, and compares the job's GPU energy from the
agent's job_report with NVML's energy counter read independently just before the job_start and
just after the job_end. Also measures the agent's own CPU time and peak RSS while idle and while
metering, and the latency of /metrics. Writes agent-validation.json into --out.

With --tiny (CI, fake NVML) the two readers see different fake clocks, so only the plumbing is
checked (a report with GPU energy arrives), not the agreement.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvml_reader  # noqa: E402


def send(sock_path, message):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sock_path)
    s.sendall((json.dumps(message) + "\n").encode())
    reply = s.makefile().readline()
    s.close()
    return json.loads(reply)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobcarbond", nargs="+", required=True, help="command that runs jobcarbond")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--idle-seconds", type=float, default=20)
    ap.add_argument("--counter-interval", type=float, default=5)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--nvml-lib", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(args.out, exist_ok=True)
    reader = nvml_reader.open_reader(args.backend, args.nvml_lib)
    h = reader.handle(args.gpu)
    uuid = reader.uuid(h)
    tmp = tempfile.mkdtemp(prefix="jobcarbond-validate.")
    sock = os.path.join(tmp, "agent.sock")
    port = free_port()
    cfg = os.path.join(tmp, "agent.toml")
    with open(cfg, "w") as f:
        f.write(f'intensity = 0.3\nagent-socket = "{sock}"\nstate-dir = "{tmp}/state"\n')
        f.write(f'metrics-address = "127.0.0.1:{port}"\ncounter-interval = {args.counter_interval}\n')
        f.write(f'node-name = "gpu-node"\nledger = "{tmp}/ledger.db"\n')
        if args.nvml_lib:
            f.write(f'nvml-lib = "{args.nvml_lib}"\n')
        if args.tiny:
            f.write(f'powercap-root = "{tmp}/none"\nhwmon-root = "{tmp}/none"\n')
    log = open(os.path.join(args.out, "jobcarbond.log"), "w")
    agent = subprocess.Popen(args.jobcarbond + ["--config", cfg], stderr=log)
    result = {"gpu": reader.name(h), "uuid": uuid, "counter_interval_s": args.counter_interval}
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        else:
            raise SystemExit("jobcarbond did not start (see jobcarbond.log)")
        time.sleep(1)
        c0, t0 = cpu_seconds(agent.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        c1, t1 = cpu_seconds(agent.pid), time.monotonic()
        result["idle_cpu_percent"] = 100 * (c1 - c0) / (t1 - t0)

        train = [args.python, os.path.join(here, "train_resnet50.py"), "--seconds", str(args.seconds)]
        train += ["--tiny"] if args.tiny else ["--device", f"cuda:{args.gpu}"]
        # Registered by pids, a job is its root process's DESCENDANTS (the root is `jobcarbon run`
        # or slurmstepd, whose own CPU time is not the job's): so a shell is the root here and the
        # trainer its child; the shell waits and passes the exit status on.
        train = ["/bin/sh", "-c", '"$@"; status=$?; exit $status', "trainer"] + train
        trainer = subprocess.Popen(train, stdout=subprocess.DEVNULL)
        submit = int(time.time() * 1e6)
        # As Slurm registers it: the job's allocation (step "job", with the GPU), and inside it a
        # step (the SPANK plugin's registration), which the agent makes a sub-record: a share of
        # the job's energy, never charged again.
        key = {"cluster": "validate", "job_id": "1", "submit_time_us": submit, "step": "job"}
        step_key = dict(key, step="0")
        e0 = reader.energy_mj(h)
        reply = send(sock, {"v": 1, "type": "job_start", **key, "user": "root", "uid": 0,
                            "gpus": [uuid], "pids": [trainer.pid]})
        assert reply["type"] == "ok", reply
        reply = send(sock, {"v": 1, "type": "job_start", **step_key, "user": "root", "uid": 0,
                            "pids": [trainer.pid]})
        assert reply["type"] == "ok", reply
        c2, t2 = cpu_seconds(agent.pid), time.monotonic()
        latencies = []
        while trainer.poll() is None:
            start = time.monotonic()
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            latencies.append((time.monotonic() - start) * 1000)
            time.sleep(2)
        c3, t3 = cpu_seconds(agent.pid), time.monotonic()
        step_report = send(sock, {"v": 1, "type": "job_end", **step_key,
                                  "exit_code": trainer.returncode,
                                  "end_time_us": int(time.time() * 1e6)})
        assert step_report["type"] == "job_report", step_report
        report = send(sock, {"v": 1, "type": "job_end", **key, "exit_code": trainer.returncode,
                             "end_time_us": int(time.time() * 1e6)})
        e1 = reader.energy_mj(h)
        assert report["type"] == "job_report", report
        result["metering_cpu_percent"] = 100 * (c3 - c2) / (t3 - t2)
        result["peak_rss_kib"] = status_kib(agent.pid, "VmHWM")
        result["rss_kib"] = status_kib(agent.pid, "VmRSS")
        result["metrics_latency_ms"] = {"p50": statistics.median(latencies),
                                        "max": max(latencies), "n": len(latencies),
                                        "bytes": len(body)}
        agent_gpu_uj = report["domains_uj"]["gpu"]
        nvml_uj = (e1 - e0) * 1000
        result["job_seconds"] = t3 - t2
        result["agent_gpu_energy_j"] = agent_gpu_uj / 1e6
        result["nvml_delta_j"] = nvml_uj / 1e6
        result["difference_j"] = (agent_gpu_uj - nvml_uj) / 1e6
        result["difference_percent"] = (100 * (agent_gpu_uj - nvml_uj) / nvml_uj) if nvml_uj else None
        result["job_report"] = report
        result["step_report"] = step_report
        result["step_gpu_energy_j"] = step_report["domains_uj"]["gpu"] / 1e6
        result["job_cpu_time_s"] = report["cpu_time_us"] / 1e6
        result["step_cpu_time_s"] = step_report["cpu_time_us"] / 1e6
        result["step_share_of_job_percent"] = (
            100 * step_report["domains_uj"]["gpu"] / agent_gpu_uj if agent_gpu_uj else None)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()
    with open(os.path.join(args.out, "agent-validation.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k not in ("job_report", "step_report")},
                     indent=2))
    if args.tiny:
        ok = result["agent_gpu_energy_j"] > 0
    else:
        # The agent reads the counter at the job_start and job_end boundaries; the reader reads it
        # just before and just after: they may differ by the idle energy of a few milliseconds.
        ok = abs(result["difference_j"]) <= max(1.0, 0.001 * result["nvml_delta_j"])
    # The step is the same process as the job, registered a moment later and ended a moment
    # earlier: it gets nearly all of the job's GPU energy, and never more (a share, not a charge).
    step_ok = 0 <= result["step_gpu_energy_j"] <= result["agent_gpu_energy_j"] and (
        args.tiny or result["step_gpu_energy_j"] >= 0.9 * result["agent_gpu_energy_j"])
    print("step:", "a share of the job, never more" if step_ok else "WRONG SHARE")
    ok = ok and step_ok
    print("verdict:", "agree" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
