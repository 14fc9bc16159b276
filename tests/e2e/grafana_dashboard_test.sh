#!/usr/bin/env bash
# The shipped deployment files: the Grafana dashboard deploy/grafana/jobcarbon-node.json and the
# systemd unit deploy/systemd/jobcarbond.service.
# - Dashboard: valid JSON with the datasource and instance variables; every query filters by the
#   node chosen in $instance; every query, with Grafana's variables replaced by literals, is checked
#   by the real `promtool check rules` (PromQL syntax); every jobcarbon_*/process_* name it uses is a
#   family of the complete example exposition tests/fixtures/metrics/node.prom.
#   Without promtool the PromQL check is skipped (saying so), except under CI=true, where it fails.
# - Unit: a structural check of what the agent needs (always), and `systemd-analyze verify` where
#   it works on this machine (it needs systemd's unit files; a container may not have them).
# No binary runs here: JOBCARBON and BUILD, which ctest passes to every end-to-end test, are not
# needed, so the test also runs as `SRC=/path/to/source bash tests/e2e/grafana_dashboard_test.sh`.
export JOBCARBON="${JOBCARBON:-unused}" BUILD="${BUILD:-unused}"
source "$(dirname "$0")/lib.sh"

DASH="$SRC/deploy/grafana/jobcarbon-node.json"
UNIT="$SRC/deploy/systemd/jobcarbond.service"
PROM="$SRC/tests/fixtures/metrics/node.prom"

# --- The dashboard: structure, queries -> rules file, metric names.
"$PY" - "$DASH" "$T/rules.yml" "$T/names.txt" > "$T/dash.txt" 2>&1 <<'EOF' || { cat "$T/dash.txt" >&2; fail "dashboard check"; }
import json, re, sys
dash_path, rules_path, names_path = sys.argv[1:4]
with open(dash_path) as f:
    d = json.load(f)
errors = []
def err(m): errors.append(m)

if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
    err(f"schemaVersion {d.get('schemaVersion')!r}: expected an integer >= 36")
if d.get("id") is not None:
    err("id must be null in a dashboard meant for import")
variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
ds = variables.get("datasource")
if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
    err("missing the 'datasource' variable of type datasource for prometheus")
inst = variables.get("instance")
want_q = "label_values(jobcarbon_node_energy_joules_total, instance)"
if not inst or inst.get("type") != "query":
    err("missing the 'instance' query variable")
else:
    q = inst.get("query")
    q = q.get("query") if isinstance(q, dict) else q
    if q != want_q:
        err(f"instance variable query {q!r}: expected {want_q!r}")

# Grafana's variables as literals, so that promtool sees plain PromQL.
literals = {"instance": "node1:9877", "__rate_interval": "5m", "__range": "1h", "__interval": "1m"}
var_re = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)")
def substitute(expr, where):
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in literals:
            err(f"{where}: unknown variable ${name}")
            return "UNKNOWN"
        return literals[name]
    return var_re.sub(one, expr)

def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))

rules, names, ids = [], set(), set()
for p in all_panels(d.get("panels", [])):
    where = f"panel {p.get('id')} '{p.get('title')}'"
    if p.get("id") in ids:
        err(f"{where}: duplicate panel id")
    ids.add(p.get("id"))
    if "gridPos" not in p:
        err(f"{where}: no gridPos")
    if p.get("type") == "row":
        continue
    if (p.get("datasource") or {}).get("uid") != "${datasource}":
        err(f"{where}: datasource is not the ${{datasource}} variable")
    targets = p.get("targets") or []
    if not targets:
        err(f"{where}: no query")
    for t in targets:
        expr = t.get("expr", "")
        tw = f"{where} query {t.get('refId')}"
        if not expr.strip():
            err(f"{tw}: empty expr")
            continue
        # A node dashboard: every query shows the node chosen at the top, never all nodes mixed.
        if "$instance" not in expr and "${instance}" not in expr:
            err(f"{tw}: does not filter by $instance: {expr}")
        names.update(re.findall(r"\b(?:jobcarbon|process)_[a-zA-Z0-9_]+\b", expr))
        rules.append({"record": f"dashboard:panel_{p.get('id')}_{t.get('refId')}",
                      "expr": substitute(expr, tw)})
for v in variables.values():
    q = v.get("query")
    q = q.get("query") if isinstance(q, dict) else q
    if v.get("type") == "query" and isinstance(q, str):
        names.update(re.findall(r"\b(?:jobcarbon|process)_[a-zA-Z0-9_]+\b", q))

if errors:
    print("\n".join(errors))
    sys.exit(1)
# JSON is YAML: promtool reads this rules file as it is.
with open(rules_path, "w") as f:
    json.dump({"groups": [{"name": "jobcarbon-dashboard", "rules": rules}]}, f, indent=2)
with open(names_path, "w") as f:
    f.write("\n".join(sorted(names)) + "\n")
print(f"{len(rules)} queries in {len(ids)} panels")
EOF
ok "dashboard structure and variables ($(cat "$T/dash.txt"))"

# Every metric name the dashboard uses is a family of the example exposition (its # TYPE line).
[[ -n "$(tr -d '\n' < "$T/names.txt")" ]] || fail "no jobcarbon_*/process_* name found in the dashboard's queries"
while read -r name; do
  grep -qE "^# TYPE $name (counter|gauge)\$" "$PROM" || fail "dashboard uses $name, which node.prom does not define"
done < "$T/names.txt"
ok "every metric name of the dashboard is in node.prom: $(paste -sd ' ' "$T/names.txt")"

# PromQL syntax: the real promtool on the queries as recording rules.
PROMTOOL=$(command -v promtool || true)
if [[ -z "$PROMTOOL" ]]; then
  if [[ "${CI:-}" == true ]]; then
    fail "promtool not found (CI=true); install Debian's prometheus package (scripts/install-deps.sh --test)"
  fi
  echo "SKIP: PromQL check of the dashboard: promtool not found (install Debian's prometheus package: scripts/install-deps.sh --test)"
else
  # The check must be able to fail: promtool rejects a broken query.
  printf 'groups:\n- name: broken\n  rules:\n  - record: broken\n    expr: sum by (domain) (rate(x[5m])\n' > "$T/broken.yml"
  if "$PROMTOOL" check rules "$T/broken.yml" > "$T/broken.out" 2>&1; then
    cat "$T/broken.out" >&2
    fail "promtool accepted a query with an unbalanced parenthesis"
  fi
  "$PROMTOOL" check rules "$T/rules.yml" > "$T/promtool.out" 2>&1 \
    || { cat "$T/rules.yml" "$T/promtool.out" >&2; fail "promtool check rules on the dashboard's queries"; }
  expect_contains "promtool check rules: every dashboard query is valid PromQL" "$T/promtool.out" "SUCCESS"
fi

# --- The systemd unit. The structural check always runs: it checks what the agent needs, which
# systemd-analyze does not know (e.g. that nothing hides /dev/nvidia*).
"$PY" - "$UNIT" > "$T/unit.txt" 2>&1 <<'EOF' || { cat "$T/unit.txt" >&2; fail "systemd unit structure"; }
import sys
sections, current, errors = {}, None, []
for n, raw in enumerate(open(sys.argv[1]), 1):
    line = raw.strip()
    if not line or line[0] in "#;":
        continue
    if line.startswith("[") and line.endswith("]"):
        current = sections.setdefault(line[1:-1], {})
        continue
    if current is None or "=" not in line:
        errors.append(f"line {n}: not 'Key=value' inside a section: {line}")
        continue
    key, value = line.split("=", 1)
    current.setdefault(key.strip(), []).append(value.strip())

def values(section, key):
    return sections.get(section, {}).get(key, [])
def words(section, key):
    return [w for v in values(section, key) for w in v.split()]
def want(section, key, value):
    if values(section, key)[-1:] != [value]:
        errors.append(f"[{section}] {key}={value} expected, found {values(section, key)}")
def want_word(section, key, word):
    if word not in words(section, key):
        errors.append(f"[{section}] {key} must include {word}, found {values(section, key)}")

for s in ("Unit", "Service", "Install"):
    if s not in sections:
        errors.append(f"section [{s}] missing")
if not values("Unit", "Description"):
    errors.append("[Unit] Description missing")
want_word("Unit", "After", "network-online.target")
want_word("Unit", "Before", "slurmd.service")
want("Service", "Type", "simple")
exec_start = values("Service", "ExecStart")
if len(exec_start) != 1 or not exec_start[0].startswith("/"):
    errors.append(f"[Service] one ExecStart with an absolute path expected, found {exec_start}")
want("Service", "ExecStart", "/usr/local/bin/jobcarbond --config /etc/jobcarbon/config.toml")
want("Service", "Restart", "always")
want("Service", "RuntimeDirectory", "jobcarbon")
want("Service", "RuntimeDirectoryMode", "0755")
want("Service", "StateDirectory", "jobcarbon")
want("Service", "StateDirectoryMode", "0700")
want("Service", "ProtectSystem", "strict")
want_word("Install", "WantedBy", "multi-user.target")
# What would stop a root agent from reading its sensors: /dev/nvidia* (a device allow-list, which
# ProtectClock= implies too), other users' /proc/<pid>, /proc/stat.
for key, bad in (("PrivateDevices", "yes"), ("ProtectClock", "yes"), ("ProtectProc", "invisible"),
                 ("ProcSubset", "pid"), ("User", None), ("DynamicUser", "yes"), ("DevicePolicy", None),
                 ("DeviceAllow", None)):
    found = values("Service", key)
    if found and (bad is None or bad in found or (bad == "yes" and "true" in found)):
        errors.append(f"[Service] {key}={found[-1]} would keep the agent from its sensors")
if errors:
    print("\n".join(errors))
    sys.exit(1)
EOF
ok "systemd unit: structural check (sections, ExecStart absolute, Restart, directories, ordering, nothing hiding sensors)"

# systemd-analyze verify, where it works here: it must pass on a minimal unit first. The binary is
# not installed on a build machine, so the copy under test points ExecStart at a stub (verify
# checks that the command exists); everything else is the shipped file as it is.
verify_ran=no
if command -v systemd-analyze > /dev/null; then
  mkdir -p "$T/units"
  printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' \
    > "$T/units/jobcarbon-probe.service"
  if systemd-analyze verify "$T/units/jobcarbon-probe.service" > "$T/probe.out" 2>&1 && [[ ! -s "$T/probe.out" ]]; then
    verify_ran=yes
    stub=/usr/local/bin/jobcarbond
    if [[ ! -x "$stub" ]]; then
      stub="$T/bin/jobcarbond"
      mkdir -p "$T/bin" && printf '#!/bin/sh\n' > "$stub" && chmod 0755 "$stub"
    fi
    sed "s|^ExecStart=/usr/local/bin/jobcarbond |ExecStart=$stub |" "$UNIT" > "$T/units/jobcarbond.service"
    grep -q "^ExecStart=$stub " "$T/units/jobcarbond.service" || fail "could not point ExecStart at the stub"
    # verify exits 0 on unknown keys and bad values (it only warns), so any output fails too.
    if ! systemd-analyze verify "$T/units/jobcarbond.service" > "$T/verify.out" 2>&1 || [[ -s "$T/verify.out" ]]; then
      cat "$T/verify.out" >&2
      fail "systemd-analyze verify jobcarbond.service"
    fi
    ok "systemd-analyze verify jobcarbond.service: no error, no warning"
  else
    echo "systemd-analyze verify does not work on this machine ($(head -c 300 "$T/probe.out")); structural check only"
  fi
else
  echo "systemd-analyze not installed; structural check of the unit only"
fi
echo "unit checks that ran: structural=yes systemd-analyze-verify=$verify_ran"
finish
