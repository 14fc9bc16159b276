#!/usr/bin/python3
"""Build data/intensity.csv from the reference data in ../shared/data/reference.

Run from anywhere with Debian's Python (needs only the standard library and Debian's iso-codes
package for the ISO 3166-1 alpha-2 <-> alpha-3 mapping):

    /usr/bin/python3 data/build/make_intensity.py [--reference DIR] [--out FILE]

The output is deterministic (same inputs, same bytes), so a rebuild shows up in `git diff` only
when a source changed. docs/carbon.md explains the datasets and the default per zone.
"""
import argparse
import csv
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REFERENCE = REPO.parent / "shared" / "data" / "reference"
ISO_3166_JSON = Path("/usr/share/iso-codes/json/iso_3166-1.json")

COLUMNS = ["zone", "name", "alpha2", "alpha3", "dataset", "default", "year", "kg_per_kwh",
           "basis", "source", "licence", "note"]

# The default dataset of a zone is the first of these that has a row for it. Ember first: one
# method and one source for every country, the world and the EU, so the fallback (world) and a
# country are comparable; Electricity Maps next, because it is the only one with sub-national
# grid zones (US balancing authorities, Nordic bidding zones); then Green Algorithms (US states,
# Australian states); the EEA editions last: they are kept to reproduce published results.
DATASET_PRIORITY = ["ember", "electricitymaps", "green-algorithms", "eea-owid-2020",
                    "eea-owid-2016", "eea-2016-study"]

EMBER_SOURCE = "Ember yearly data (via co2.js)"
EMBER_LICENCE = "CC-BY-4.0 (Ember)"
EM_YEAR = 2024  # latest complete year; yearly_2025.json was fetched before 2025 ended
EM_SOURCE = f"Electricity Maps yearly {EM_YEAR} (via co2.js)"
EM_LICENCE = "ODbL-1.0 (Electricity Maps)"
EEA_BASIS = "direct, generation"
EEA_OWID_SOURCE = "EEA, later edition (via OWID and codecarbon)"
EEA_OWID_LICENCE = "CC-BY-4.0 (Our World in Data; data EEA)"
EEA_STUDY_SOURCE = "EEA 2016 figures as quoted by the study"
EEA_STUDY_LICENCE = "EEA re-use policy (attribution)"
GA_SOURCE = "Green Algorithms CI_aggregated.csv"
GA_LICENCE = "CC-BY-4.0 (Green Algorithms)"

# The EEA 2016 figures the original study used, entered as given (kg CO2/kWh). The later EEA
# edition in the reference data differs slightly (e.g. Germany 2016: 456 g instead of 441 g).
EEA_2016_STUDY = [("EU", "European Union (EU-28)", "0.296"), ("RO", "Romania", "0.306"),
                  ("DE", "Germany", "0.441"), ("MT", "Malta", "0.648")]

# Green Algorithms uses CA-MT for Manitoba; ISO 3166-2 (and Electricity Maps) say CA-MB.
GA_ZONE_FIXES = {"CA-MT": "CA-MB"}

# Kosovo has no ISO 3166-1 code; XK/XKX are the user-assigned codes Ember and Electricity Maps use.
EXTRA_COUNTRIES = [{"alpha_2": "XK", "alpha_3": "XKX", "name": "Kosovo"}]


def kg(grams):
    """Return grams per kWh as a kg-per-kWh decimal string without float noise."""
    value = Decimal(str(grams)) / 1000
    text = format(value.normalize(), "f")
    return text


def load_iso():
    entries = json.loads(ISO_3166_JSON.read_text(encoding="utf-8"))["3166-1"] + EXTRA_COUNTRIES
    by2 = {e["alpha_2"]: e for e in entries}
    by3 = {e["alpha_3"]: e for e in entries}
    return by2, by3


def country_name(entry):
    return entry.get("common_name") or entry["name"]


def row(zone, name, alpha2, alpha3, dataset, year, kg_per_kwh, basis, source, licence, note=""):
    return {"zone": zone, "name": name, "alpha2": alpha2, "alpha3": alpha3, "dataset": dataset,
            "default": "", "year": str(year), "kg_per_kwh": kg_per_kwh, "basis": basis,
            "source": source, "licence": licence, "note": note}


def ember_rows(ref, by3):
    data = json.loads((ref / "co2js" / "average-intensities.json").read_text(encoding="utf-8"))
    rows = []
    for key, e in data.items():
        code = e["country_code"]
        g = e["emissions_intensity_gco2_per_kwh"]
        if code:
            iso = by3[code]  # KeyError here means a new code: map it explicitly above
            rows.append(row(iso["alpha_2"], e["country_or_region"], iso["alpha_2"], code, "ember",
                            e["year"], kg(g), "lifecycle, generation", EMBER_SOURCE,
                            EMBER_LICENCE))
        elif key == "World":
            rows.append(row("WORLD", "World", "", "", "ember", e["year"], kg(g),
                            "lifecycle, generation", EMBER_SOURCE, EMBER_LICENCE))
        elif key == "EU":
            rows.append(row("EU", "European Union (EU-27)", "", "", "ember", e["year"], kg(g),
                            "lifecycle, generation", EMBER_SOURCE, EMBER_LICENCE))
    return rows


def electricitymaps_rows(ref, by2):
    path = ref / "co2js" / f"yearly_{EM_YEAR}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for zone, z in data.items():
        ci = z["carbonIntensity"]
        assert ci["unit"] == "gCO2eq/kWh", (zone, ci)
        name = z["zone"]["zoneName"]
        if "-" in zone:
            country = by2.get(zone.split("-")[0])
            if country is not None:
                name = f"{name} ({country_name(country)})"
            alpha2 = alpha3 = ""
        else:
            iso = by2[zone]
            alpha2, alpha3 = iso["alpha_2"], iso["alpha_3"]
        rows.append(row(zone, name, alpha2, alpha3, "electricitymaps", EM_YEAR, kg(ci["value"]),
                        "lifecycle, consumption", EM_SOURCE, EM_LICENCE))
    return rows


def eea_owid_rows(ref, by3, year):
    path = ref / "codecarbon" / "private_infra__2020__eu-carbon-intensity-electricity.csv"
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if int(r["Year"]) != year:
                continue
            g = r["Carbon intensity of electricity (gCO2/kWh)"]
            if r["Entity"] == "EU-27":
                rows.append(row("EU", "European Union (EU-27)", "", "", f"eea-owid-{year}", year,
                                kg(g), EEA_BASIS, EEA_OWID_SOURCE, EEA_OWID_LICENCE))
            elif r["Code"]:
                iso = by3[r["Code"]]
                rows.append(row(iso["alpha_2"], r["Entity"], iso["alpha_2"], r["Code"],
                                f"eea-owid-{year}", year, kg(g), EEA_BASIS, EEA_OWID_SOURCE,
                                EEA_OWID_LICENCE))
            # EU27+1 (EU-27 and the UK) has no zone of its own and is left out.
    return rows


def eea_study_rows(by2):
    rows = []
    for zone, name, value in EEA_2016_STUDY:
        iso = by2.get(zone)
        rows.append(row(zone, name, iso["alpha_2"] if iso else "", iso["alpha_3"] if iso else "",
                        "eea-2016-study", 2016, value, EEA_BASIS, EEA_STUDY_SOURCE,
                        EEA_STUDY_LICENCE))
    return rows


GA_YEAR_PATTERNS = [r"based on (?:\w+ )?((?:19|20)\d\d)", r"[Dd]ata from (?:\w+ )?((?:19|20)\d\d)",
                    r"using ((?:19|20)\d\d)/\d\d data"]


def ga_year(text):
    for pattern in GA_YEAR_PATTERNS:
        m = re.search(pattern, text)
        if m:
            return int(m.group(1))
    return None


def green_algorithms_rows(ref, by2, skipped):
    path = ref / "green-algorithms" / "CI_aggregated.csv"
    with path.open(encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))
    header = lines[1]  # line 1 is a units banner, line 2 the header
    rows = []
    for values in lines[2:]:
        r = dict(zip(header, values))
        code = r["location"]
        note = "; ".join(x for x in (r["source"], r["comments"]) if x)
        year = ga_year(note)
        if year is None:
            skipped.append(f"green-algorithms {code}: no data year in source or comments")
            continue
        if code == "WORLD":
            zone, name, alpha2, alpha3 = "WORLD", "World", "", ""
        else:
            zone = GA_ZONE_FIXES.get(code, code)
            if code != zone:
                note = f"Green Algorithms code {code}; {note}"
            if r["regionName"] == "Any":
                iso = by2[zone]
                name, alpha2, alpha3 = r["countryName"], iso["alpha_2"], iso["alpha_3"]
            else:
                # Name the country as the other datasets do ("United States", not "... of America").
                country = by2.get(zone.split("-")[0])
                country_label = country_name(country) if country else r["countryName"]
                name, alpha2, alpha3 = f"{r['regionName']} ({country_label})", "", ""
        rows.append(row(zone, name, alpha2, alpha3, "green-algorithms", year,
                        kg(r["carbonIntensity"]), "mixed, see note", GA_SOURCE, GA_LICENCE, note))
    return rows


def mark_defaults(rows):
    by_zone = {}
    for r in rows:
        by_zone.setdefault(r["zone"], []).append(r)
    for zone_rows in by_zone.values():
        best = min(zone_rows, key=lambda r: DATASET_PRIORITY.index(r["dataset"]))
        best["default"] = "yes"


def check(rows):
    keys = set()
    for r in rows:
        key = (r["zone"], r["dataset"])
        assert key not in keys, f"duplicate {key}"
        keys.add(key)
    # A country code must name one zone only, whatever the dataset.
    owner = {}
    for r in rows:
        for code in (r["alpha2"], r["alpha3"]):
            if code:
                assert owner.setdefault(code, r["zone"]) == r["zone"], (code, r["zone"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=REPO / "data" / "intensity.csv")
    args = parser.parse_args()

    by2, by3 = load_iso()
    skipped = []
    rows = (ember_rows(args.reference, by3) + electricitymaps_rows(args.reference, by2) +
            eea_owid_rows(args.reference, by3, 2016) + eea_owid_rows(args.reference, by3, 2020) +
            eea_study_rows(by2) + green_algorithms_rows(args.reference, by2, skipped))
    mark_defaults(rows)
    check(rows)
    # WORLD first (the fallback), then zones alphabetically, the default dataset first per zone.
    rows.sort(key=lambda r: (r["zone"] != "WORLD", r["zone"], r["default"] != "yes",
                             DATASET_PRIORITY.index(r["dataset"])))
    with args.out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    zones = len({r["zone"] for r in rows})
    print(f"wrote {args.out}: {len(rows)} rows, {zones} zones", file=sys.stderr)
    for s in skipped:
        print(f"skipped {s}", file=sys.stderr)


if __name__ == "__main__":
    main()
