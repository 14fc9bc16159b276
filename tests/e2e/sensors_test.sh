#!/usr/bin/env bash
# `jobcarbon sensors` and `jobcarbon intensity` on fixture trees, and the fallback to estimates
# when RAPL's energy_uj is root-only (as on Linux >= 5.10) and jobcarbon runs as a user.
source "$(dirname "$0")/lib.sh"

root=$(fixture intel-2socket-dram)
power9=$(fixture power9-ibmpowernv)
"$JOBCARBON" sensors --powercap-root "$root/class/powercap" --hwmon-root "$power9/class/hwmon" \
  --nvml-lib "$T/none.so" > "$T/sensors.txt"
expect_contains "RAPL packages listed" "$T/sensors.txt" "package-0"
expect_contains "DRAM listed" "$T/sensors.txt" "dram"
expect_contains "wrap range shown" "$T/sensors.txt" "wraps at 65712999613 uJ"
expect_contains "NVML unavailable with its reason" "$T/sensors.txt" "nvml       unavailable: no NVIDIA driver"
expect_contains "POWER9 node meter" "$T/sensors.txt" "System"
expect_contains "estimator not needed" "$T/sensors.txt" "estimator  unavailable: not needed"

# Root-only energy_uj, read by an unprivileged user: RAPL is unavailable with the reason and the
# fix, and `run` falls back to estimates.
chmod -R a+rX "$T"
chmod 0400 "$root"/devices/virtual/powercap/intel-rapl/intel-rapl:*/energy_uj \
  "$root"/devices/virtual/powercap/intel-rapl/intel-rapl:*/intel-rapl:*/energy_uj
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- env HOME="$T/nobody" "$@"; }
mkdir -p "$T/nobody" && chown 65534:65534 "$T/nobody"
as_nobody "$JOBCARBON" sensors --powercap-root "$root/class/powercap" --hwmon-root "$T/none" \
  --nvml-lib "$T/none.so" > "$T/nobody.txt"
expect_contains "root-only energy_uj explained" "$T/nobody.txt" "root"
expect_contains "how to grant access" "$T/nobody.txt" "energy_uj"
expect_contains "estimator takes over" "$T/nobody.txt" "CPU estimate"
as_nobody "$JOBCARBON" run --intensity 0.3 --ledger "$T/nobody/l.db" --json "$T/nobody/r.json" -q \
  --powercap-root "$root/class/powercap" --hwmon-root "$T/none" --nvml-lib "$T/none.so" -- true
expect_eq "run falls back to estimates" "$(json "$T/nobody/r.json" "j['method'], j['domain_method']['cpu']")" "('estimated', None)"

# The intensity table: search, the study's EEA 2016 figures, JSON.
"$JOBCARBON" intensity germany > "$T/int.txt"
expect_contains "Germany found" "$T/int.txt" "DE"
"$JOBCARBON" intensity --dataset eea-2016-study --json > "$T/eea.json"
expect_eq "EEA 2016 figures of the study" \
  "$(json "$T/eea.json" "sorted((r['zone'], r['kg_per_kwh']) for r in (j if isinstance(j, list) else j['rows']))")" \
  "[('DE', 0.441), ('EU', 0.296), ('MT', 0.648), ('RO', 0.306)]"
finish
