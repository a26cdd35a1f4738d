"""Score `pipeline replay` alerts against the generator's ground truth.

usage: python score.py DIR [DIR...]   (each DIR holds truth.json and alerts.jsonl)
Prints per-seed and pooled figures as JSON lines and a table of every planted episode.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from datetime import datetime

FITTING = {
    "divergence_feedback": {"target_experience_divergence"},
    "divergence_harm": {"target_experience_divergence", "safety_signal"},
    "silence": {"reporting_silence"},
}
FITTING_LOOSE = {
    "divergence_feedback": {"target_experience_divergence", "masked_dark_spot"},
    "divergence_harm": {"target_experience_divergence", "safety_signal", "masked_dark_spot"},
    "silence": {"reporting_silence"},
}
AFTER = 2  # windows after an episode in which an alert still counts for it
FIRST_JUDGED = 10  # learning period: 10 weeks


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def observed(d: str, t0: datetime) -> dict:
    """Per unit and week, from the events file: responses, positive, reports, harmful (latest revision)."""
    seen = set()
    fb = defaultdict(lambda: [0, 0])
    revs: dict = {}
    for line in open(f"{d}/events.jsonl"):
        e = json.loads(line)
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        u = f"{e['org_id']}/{e['unit_id']}"
        if e["event_type"] == "patient_feedback":
            w = (ts(e["occurred_at"]) - t0).days // 7
            fb[(u, w)][0] += 1
            fb[(u, w)][1] += e["rating"] in (1, 2)
        elif e["event_type"] == "incident_report":
            k = (e["org_id"], e["report_ref"])
            if k not in revs or revs[k]["revision"] < e["revision"]:
                revs[k] = e
    inc = defaultdict(lambda: [0, 0])
    for e in revs.values():
        w = (ts(e["occurred_at"]) - t0).days // 7
        u = f"{e['org_id']}/{e['unit_id']}"
        inc[(u, w)][0] += 1
        inc[(u, w)][1] += e["harm"] != "none"
    return {"fb": fb, "inc": inc}


def realised_z(p: dict, obs: dict) -> float:
    """The shortfall (or excess) the data actually carried, in sigma of the unplanted process."""
    u = f"{p['org']}/{p['unit']}"
    weeks = range(p["start"], p["end"] + 1)
    nl = p["null"]
    if p["kind"] == "divergence_feedback":
        exp = pos = var = 0.0
        for i, w in enumerate(weeks):
            n, k = obs["fb"][(u, w)]
            q = nl["p"][i]
            exp += n * q
            pos += k
            var += n * q * (1 - q) * (1 + (n - 1) / (p["phi"] + 1))
        return round((exp - pos) / var ** 0.5, 2) if var else 0.0
    if p["kind"] == "divergence_harm":
        got = sum(obs["inc"][(u, w)][1] for w in weeks)
        return round((got - nl["mu"]) / nl["var"] ** 0.5, 2)
    got = sum(obs["inc"][(u, w)][0] for w in weeks)
    return round((nl["mu"] - got) / nl["var"] ** 0.5, 2)


def score(d: str) -> dict:
    truth = json.load(open(f"{d}/truth.json"))
    t0 = ts(truth["t0"])
    weeks = truth["weeks"]

    def wk(s: str) -> int:
        return (ts(s) - t0).days // 7

    alerts = []
    for line in open(f"{d}/alerts.jsonl"):
        a = json.loads(line)
        ep = a["evidence"].get("episode", {})
        first = wk(ep.get("first_window") or a["window_start"])
        last = wk(ep.get("last_window")) if ep.get("last_window") else wk(a["window_end"]) - 1
        det = wk(ep["detected_in_window"]) if ep.get("detected_in_window") else first
        alerts.append({"kind": a["kind"], "unit": f"{a['org_id']}/{a['unit_id']}", "first": first,
                       "last": last, "detected": det, "status": a.get("status"), "severity": a["severity"]})
    plants = truth["plants"]
    by_unit = defaultdict(list)
    for p in plants:
        by_unit[f"{p['org']}/{p['unit']}"].append(p)

    # attribute each alert: first window within [start, end+AFTER] of a plant on its unit
    for a in alerts:
        a["plant"] = None
        for p in by_unit.get(a["unit"], []):
            if p["start"] <= a["first"] <= p["end"] + AFTER:
                a["plant"] = p
                break
        a["overlaps_plant"] = any(a["first"] <= p["end"] + AFTER and a["last"] >= p["start"]
                                  for p in by_unit.get(a["unit"], []))

    obs = observed(d, t0)
    rows = []
    for p in plants:
        u = f"{p['org']}/{p['unit']}"
        if p["kind"] in FITTING:
            hits = [a for a in alerts if a["unit"] == u and a["kind"] in FITTING[p["kind"]]
                    and a["first"] <= p["end"] + AFTER and a["last"] >= p["start"]
                    and a["detected"] <= p["end"] + AFTER]
            loose = [a for a in alerts if a["unit"] == u and a["kind"] in FITTING_LOOSE[p["kind"]]
                     and a["first"] <= p["end"] + AFTER and a["last"] >= p["start"]
                     and a["detected"] <= p["end"] + AFTER]
            p["z_real"] = realised_z(p, obs)
            p["found"] = bool(hits)
            p["found_loose"] = bool(loose)
            p["delay"] = (min(a["detected"] for a in hits) - p["start"]) if hits else None
            p["kinds"] = sorted({a["kind"] for a in alerts if a["unit"] == u
                                 and a["first"] <= p["end"] + AFTER and a["last"] >= p["start"]})
        else:
            hit = [a for a in alerts if a["unit"] == u and a["first"] <= p["end"] + AFTER
                   and a["last"] >= p["start"]]
            p["alerted"] = sorted({a["kind"] for a in hit})
        rows.append(p)

    # quiet unit-weeks: judged weeks with nothing planted (episode/decoy + AFTER windows)
    planted_weeks = defaultdict(set)
    for p in plants:
        for w in range(p["start"], min(weeks, p["end"] + AFTER + 1)):
            planted_weeks[f"{p['org']}/{p['unit']}"].add(w)
    quiet = 0
    for u in truth["units"]:
        quiet += sum(1 for w in range(FIRST_JUDGED, weeks) if w not in planted_weeks[u])
    false_alarms = [a for a in alerts if not a["overlaps_plant"]]
    fa_weeks = set()
    for a in false_alarms:
        for w in range(a["first"], a["last"] + 1):
            fa_weeks.add((a["unit"], w))
    wrong_kind = [a for a in alerts if a["overlaps_plant"] and a["plant"] is not None
                  and a["plant"]["kind"] in FITTING and a["kind"] not in FITTING_LOOSE[a["plant"]["kind"]]]
    return {"dir": d, "rows": rows, "alerts": alerts, "quiet": quiet, "false_alarms": false_alarms,
            "fa_unit_weeks": len(fa_weeks), "wrong_kind": wrong_kind}


def summarise(results: list[dict]) -> dict:
    rows = [r for res in results for r in res["rows"]]
    out: dict = {}
    for kind in ("divergence_feedback", "divergence_harm", "silence"):
        det = [r for r in rows if r["kind"] == kind and r["detectable"]]
        und = [r for r in rows if r["kind"] == kind and not r["detectable"]]
        delays = [r["delay"] for r in det if r["found"]]
        out[kind] = {"detectable": len(det), "found": sum(r["found"] for r in det),
                     "found_loose": sum(r["found_loose"] for r in det),
                     "undetectable": len(und), "undetectable_found": sum(r["found"] for r in und),
                     "median_delay": statistics.median(delays) if delays else None,
                     "delays": sorted(delays)}
    hit = [r for r in rows if r["kind"] in ("divergence_feedback", "divergence_harm") and r["detectable"]]
    d_all = [r["delay"] for r in hit if r["found"]]
    out["hitting_target_total"] = {"detectable": len(hit), "found": sum(r["found"] for r in hit),
                                   "recall": round(sum(r["found"] for r in hit) / max(1, len(hit)), 3),
                                   "found_loose": sum(r["found_loose"] for r in hit),
                                   "median_delay": statistics.median(d_all) if d_all else None,
                                   "p75_delay": sorted(d_all)[int(0.75 * (len(d_all) - 1))] if d_all else None}
    decoys = [r for r in rows if r["kind"].startswith("decoy")]
    out["decoys"] = {"total": len(decoys), "alerted": sum(bool(r["alerted"]) for r in decoys),
                     "by_kind": dict(Counter(r["kind"] for r in decoys if r["alerted"])),
                     "alert_kinds": dict(Counter(k for r in decoys for k in r["alerted"]))}
    quiet = sum(res["quiet"] for res in results)
    fa = [a for res in results for a in res["false_alarms"]]
    out["quiet_unit_weeks"] = quiet
    out["false_alarms"] = len(fa)
    out["false_alarms_per_100"] = round(100 * len(fa) / quiet, 3)
    out["false_alarms_by_kind_per_100"] = {k: round(100 * v / quiet, 3) for k, v in Counter(a["kind"] for a in fa).items()}
    out["false_alarm_unit_weeks_per_100"] = round(100 * sum(res["fa_unit_weeks"] for res in results) / quiet, 3)
    out["wrong_kind_on_episodes"] = len([a for res in results for a in res["wrong_kind"]])
    return out


def main() -> None:
    results = [score(d) for d in sys.argv[1:]]
    for res in results:
        s = summarise([res])
        print(f"== {res['dir']}")
        print(json.dumps(s))
    print("== pooled")
    print(json.dumps(summarise(results), indent=1))
    print("\n== episodes (kind org/unit start-end weeks shift size(mean n) z detectable found loose delay kinds winter monthly)")
    for res in results:
        for r in res["rows"]:
            if r["kind"] in FITTING:
                print(res["dir"], r["kind"], f"{r['org']}/{r['unit']}", f"{r['start']}-{r['end']}", r["weeks"],
                      round(r["shift"], 3), r["mean_n"], "inc", round(r["inc_rate"], 1), "z", r["z_total"], "zr", r["z_real"],
                      "DET" if r["detectable"] else "und", "FOUND" if r["found"] else "miss",
                      "L" if r["found_loose"] else "-", r["delay"], ",".join(r["kinds"]), "wint", r["winter"],
                      "M" if r["monthly"] else "W")
    print("\n== decoys alerted")
    for res in results:
        for r in res["rows"]:
            if r["kind"].startswith("decoy") and r["alerted"]:
                print(res["dir"], r["kind"], f"{r['org']}/{r['unit']}", f"{r['start']}-{r['end']}",
                      round(r["shift"], 3), round(r["size"]), r["alerted"])
    print("\n== false alarms (alert on unit-weeks with nothing planted)")
    for res in results:
        for a in res["false_alarms"]:
            print(res["dir"], a["kind"], a["unit"], f"weeks {a['first']}-{a['last']} detected {a['detected']}",
                  a["severity"], a["status"])
    print("\n== wrong-kind alerts on planted episodes")
    for res in results:
        for a in res["wrong_kind"]:
            print(res["dir"], a["kind"], a["unit"], a["first"], a["plant"]["kind"])


if __name__ == "__main__":
    main()
