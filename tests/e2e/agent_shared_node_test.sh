#!/usr/bin/env bash
# Two concurrent jobs on a shared node, through the real jobcarbond: job A owns GPU 0, job B
# GPU 1 (fake NVML), and the RAPL packages and DRAM (intel-2socket-dram) are split by the CPU time
# of their cgroup v2 directories (fixture cpu.stat files written by the test). Energy must be
# conserved exactly: A + B + unallocated = the node's counter deltas, per domain, to the µJ.
#
# How the agent splits (src/jobcarbon/attribution/attributor.cpp): per interval and per RAPL
# channel, job j gets floor(E × used_j / den) µJ with den = max(capacity, Σ used), capacity =
# interval length × online CPUs of the proc root (4: cpu0..cpu3 of tests/fixtures/proc/x86/stat,
# copied to $T/proc), used_j = the growth of the job's usage_usec in the interval; the rest of E
# is unallocated. A GPU's energy goes whole to the job that owns it.
#
# The interval length is real time, so a share is only predictable when the CPU times are larger
# than the capacity. Hence two phases, each written at once right after a counter boundary (the
# agent's journal is rewritten after each one), so that all of a phase's changes fall in one
# interval:
#  1. saturated: A +10^10 µs, B +3·10^10 µs of CPU time, far above a ~1 s interval's capacity of
#     ~4·10^6 µs: den = 4·10^10, shares exactly 1/4 and 3/4, every µJ computed by hand below;
#  2. realistic: A +0.2 s, B +0.6 s in a ~1 s interval (capacity ~4 s): shares ~5 % and ~15 %,
#     most of the energy unallocated. Exact: GPUs and conservation; B = 3·A up to the floor of each
#     channel (0 ≤ B − 3A ≤ 2 per channel, so ≤ 4 per domain of two channels); A's share matches
#     0.2 s / (interval × 4 CPUs) for the interval measured from here, within 15 %.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"
CGA=/system.slice/slurmstepd.scope/job_101
CGB=/system.slice/slurmstepd.scope/job_102
J="$T/state/journal.json"

make_node
make_cgroup "$CGA" 1000000
make_cgroup "$CGB" 2000000
start_agent
tool send "$SOCK" "$(job_start_msg 101 "$GPU0" "$CGA")" "$(job_start_msg 102 "$GPU1" "$CGB")" >"$T/start.txt"
expect_eq "both jobs registered" "$(tr '\n' ' ' <"$T/start.txt")" '{"v":1,"type":"ok"} {"v":1,"type":"ok"} '

# --- Phase 1, saturated. Per channel, A = floor(E/4), B = floor(3E/4), unallocated = the rest:
#   package-0 10000003: A 2500000, B 7500002, u 1    package-0 dram 2000001: A 500000, B 1500000, u 1
#   package-1  7000002: A 1750000, B 5250001, u 1    package-1 dram 1000003: A 250000, B  750002, u 1
#   cpu: A 4250000, B 12750003, u 2 (= 17000005)      dram: A 750000, B 2250002, u 2 (= 3000004)
#   GPU 0 +40 J (A), GPU 1 +70 J (B).
#   A = 40000000 + 4250000 + 750000 = 45000000 µJ; B = 70000000 + 12750003 + 2250002 = 85000005 µJ.
tool between_boundaries "$J" "$CGROUP$CGA/cpu.stat+10000000000" "$CGROUP$CGB/cpu.stat+30000000000" \
  "$PKG0+10000003" "$DRAM0+2000001" "$PKG1+7000002" "$DRAM1+1000003" \
  "$GPU0_STATE+40000" "$GPU1_STATE+70000" || fail "phase 1 advance"
tool wait_metrics "$METRICS" 10 \
  's["jobcarbon_job_energy_joules_total{cluster=\"c1\",job_id=\"101\",step=\"batch\",user=\"root\",account=\"vision\"}"] == "45" and s["jobcarbon_job_energy_joules_total{cluster=\"c1\",job_id=\"102\",step=\"batch\",user=\"root\",account=\"vision\"}"] == "85.000005"' \
  >"$T/phase1.prom" || fail "phase 1 energies not seen"
ok "phase 1 on /metrics: A 45 J, B 85.000005 J"
expect_eq "phase 1 unallocated on /metrics (cpu, dram, gpu)" \
  "$(for d in cpu dram gpu; do grep "^jobcarbon_node_unallocated_energy_joules_total{domain=\"$d\"}" "$T/phase1.prom" | cut -d' ' -f2; done | tr '\n' ' ')" \
  "0.000002 0.000002 0 "
"$JOBCARBON" status --socket "$SOCK" --json >"$T/status.json"
expect_eq "jobcarbon status: both jobs with their energy (uJ)" \
  "$(json "$T/status.json" 'sorted((x["job_id"], x["energy_uj"]) for x in (j["jobs"] if isinstance(j, dict) else j))')" \
  "[('101', 45000000), ('102', 85000005)]"

# --- Phase 2, realistic shares.
interval=$(tool between_boundaries --timed "$J" "$CGROUP$CGA/cpu.stat+200000" \
  "$CGROUP$CGB/cpu.stat+600000" "$PKG0+20000000" "$DRAM0+3000000" "$PKG1+16000000" \
  "$DRAM1+5000000" "$GPU0_STATE+11000" "$GPU1_STATE+13000") || fail "phase 2 advance"

tool send "$SOCK" "$(job_end_msg 101)" "$(job_end_msg 102)" >"$T/end.txt"
expect_ended "both jobs ended" "$T/end.txt"
for _ in $(seq 100); do
  "$JOBCARBON" jobs --ledger "$LEDGER" --format json >"$T/jobs.json" 2>/dev/null || true
  [[ "$(json "$T/jobs.json" 'len(j)' 2>/dev/null)" == 2 ]] && break
  sleep 0.1
done
expect_eq "two records in the ledger" "$(json "$T/jobs.json" 'len(j)')" 2
"$JOBCARBON" show 101 --ledger "$LEDGER" --json >"$T/a.json"
"$JOBCARBON" show 102 --ledger "$LEDGER" --json >"$T/b.json"
stop_agent

# The records' report_json: energy_uj.{charged,machine,unallocated}.<domain>, one record each.
"$PY" - "$T/a.json" "$T/b.json" "$interval" >"$T/check.txt" 2>&1 <<'EOF' || { cat "$T/check.txt" >&2; fail "conservation and split"; }
import json, sys
def report(path):
    recs = json.load(open(path))["records"]
    assert len(recs) == 1, recs
    return recs[0]["report"]["energy_uj"]
a, b, interval = report(sys.argv[1]), report(sys.argv[2]), float(sys.argv[3])
problems = []
def check(what, got, want):
    print(f"{what}: {got}" + ("" if got == want else f" (expected {want})"))
    if got != want:
        problems.append(what)

# Node deltas over both phases (µJ): cpu 17000005 + 36000000, dram 3000004 + 8000000,
# GPU 0 40 + 11 J, GPU 1 70 + 13 J.
cpu_total, dram_total = 53000005, 11000004
check("GPU 0's whole delta to A", a["charged"]["gpu"], 51000000)
check("GPU 1's whole delta to B", b["charged"]["gpu"], 83000000)
check("no GPU energy unallocated", a["unallocated"]["gpu"], 0)
# Both jobs saw every interval in which a counter moved, so both records carry the same machine
# and unallocated energy.
for rec, name in ((a, "A"), (b, "B")):
    check(f"{name}'s machine cpu = the packages' deltas", rec["machine"]["cpu"], cpu_total)
    check(f"{name}'s machine dram = the DRAM deltas", rec["machine"]["dram"], dram_total)
check("same unallocated in both records", a["unallocated"], b["unallocated"])
for d, total in (("cpu", cpu_total), ("dram", dram_total)):
    check(f"A + B + unallocated = node, {d}",
          a["charged"][d] + b["charged"][d] + a["unallocated"][d], total)
# Phase 2 alone: the records minus phase 1's hand-computed parts.
p1 = {"cpu": (4250000, 12750003), "dram": (750000, 2250002)}
for d in ("cpu", "dram"):
    a2, b2 = a["charged"][d] - p1[d][0], b["charged"][d] - p1[d][1]
    print(f"phase 2 {d}: A {a2}, B {b2}")
    if not (a2 > 0 and 0 <= b2 - 3 * a2 <= 4):
        problems.append(f"phase 2 {d}: B = {b2} is not 3 x A = 3 x {a2} up to the floors")
# A's phase-2 share of the packages vs 0.2 s of CPU over (interval x 4 CPUs).
share = (a["charged"]["cpu"] - p1["cpu"][0]) / 36000000
want = 0.2 / (interval * 4)
print(f"phase 2: A's package share {share:.5f}, 0.2 s / ({interval:.3f} s x 4 CPUs) = {want:.5f}")
if abs(share / want - 1) > 0.15:
    problems.append("A's share does not match its CPU time over the interval's capacity")
if problems:
    print("PROBLEMS:", problems)
    sys.exit(1)
EOF
cat "$T/check.txt"
ok "GPUs whole to their owners; A + B + unallocated = node per domain, exactly"
ok "phase 2 split B = 3 x A up to the floors; A's share = its CPU time / (interval x 4 CPUs)"
finish
