"""Breakdowns of recall by episode features, plus the pipeline's own summed z over each episode
(from its stored verdicts). python analyze.py s1 s2 s3"""
import json, sys, statistics
from collections import defaultdict
from datetime import datetime
from score import score

MEASURE = {"divergence_feedback": "positive_share", "divergence_harm": "harmful_incident_rate",
           "silence": "incident_reporting"}

def verdict_z(d, t0):
    out = {}
    for line in open(f"{d}/verdicts.jsonl"):
        v = json.loads(line)
        w = (datetime.fromisoformat(v["w"] + "T00:00:00+00:00") - t0).days // 7
        out[(f"{v['org_id']}/{v['unit_id']}", v["measure"], w)] = v
    return out

rows = []
for d in sys.argv[1:]:
    res = score(d)
    t0 = datetime.fromisoformat(json.load(open(f"{d}/truth.json"))["t0"])
    vz = verdict_z(d, t0)
    for r in res["rows"]:
        if r["kind"] not in MEASURE:
            continue
        u = f"{r['org']}/{r['unit']}"
        zs = [vz[(u, MEASURE[r["kind"]], w)]["z"] for w in range(r["start"], r["end"] + 1)
              if (u, MEASURE[r["kind"]], w) in vz and vz[(u, MEASURE[r["kind"]], w)]["z"] == vz[(u, MEASURE[r["kind"]], w)]["z"]]
        r["z_pipe"] = round(sum(zs) / len(zs) ** 0.5, 2) if zs else None
        r["z_pipe_max"] = round(max(zs), 2) if zs else None
        r["seed"] = d
        rows.append(r)

def table(title, kinds, key, bands):
    print(f"\n### {title}")
    print("| band | detectable | found | recall | median delay |")
    print("|---|---:|---:|---:|---:|")
    for name, pred in bands:
        sel = [r for r in rows if r["kind"] in kinds and r["detectable"] and pred(key(r))]
        if not sel:
            continue
        f = [r for r in sel if r["found"]]
        md = statistics.median([r["delay"] for r in f]) if f else "-"
        print(f"| {name} | {len(sel)} | {len(f)} | {len(f)/len(sel):.2f} | {md} |")

HT = ("divergence_feedback", "divergence_harm")
FB = ("divergence_feedback",)
HM = ("divergence_harm",)
z_b = [("planned z 3-4", lambda z: 3 <= z < 4), ("4-6", lambda z: 4 <= z < 6), ("6-8", lambda z: 6 <= z < 8), ("8+", lambda z: z >= 8)]
table("Hitting the target (feedback + harm): recall by planned summed z", HT, lambda r: r["z_total"], z_b)
table("Hitting the target: recall by realised summed z (the data's own shortfall)", HT, lambda r: r["z_real"],
      [("realised z <3", lambda z: z < 3), ("3-4", lambda z: 3 <= z < 4), ("4-6", lambda z: 4 <= z < 6), ("6+", lambda z: z >= 6)])
table("Hitting the target: recall by the pipeline's own summed z over the episode (sum z / sqrt k)", HT, lambda r: r["z_pipe"] if r["z_pipe"] is not None else -9,
      [("pipeline z <3", lambda z: z < 3), ("3-4", lambda z: 3 <= z < 4), ("4-6", lambda z: 4 <= z < 6), ("6+", lambda z: z >= 6)])
table("Feedback drops: recall by unit size (responses a week)", FB, lambda r: r["mean_n"],
      [("12-25", lambda n: n < 25), ("25-55", lambda n: 25 <= n < 55), ("55-120", lambda n: n >= 55)])
table("Feedback drops: recall by shift of the positive share", FB, lambda r: r["shift"],
      [("0.06-0.10", lambda s: s < 0.10), ("0.10-0.15", lambda s: 0.10 <= s < 0.15), ("0.15-0.20", lambda s: 0.15 <= s < 0.20), ("0.20-0.25", lambda s: s >= 0.20)])
table("Hitting the target: recall by duration (weeks)", HT, lambda r: r["weeks"],
      [("3-4", lambda k: k <= 4), ("5-7", lambda k: 5 <= k <= 7), ("8-12", lambda k: k >= 8)])
table("Hitting the target: recall by season (mean winter intensity over the episode)", HT, lambda r: r["winter"],
      [("summer (0)", lambda x: x < 0.05), ("partly winter", lambda x: 0.05 <= x < 0.4), ("winter (>=0.4)", lambda x: x >= 0.4)])
table("Hitting the target: recall by target feed", HT, lambda r: r["monthly"],
      [("weekly returns", lambda m: not m), ("monthly returns", lambda m: m)])
table("Harm rises: recall by multiplier", HM, lambda r: r["shift"],
      [("x1.5-2", lambda s: s < 2), ("x2-2.5", lambda s: 2 <= s < 2.5), ("x2.5-3", lambda s: s >= 2.5)])
table("Harm rises: recall by usual harmful incidents a week", HM, lambda r: r["inc_rate"] * 0.38,
      [("<1.5", lambda x: x < 1.5), ("1.5-2.5", lambda x: 1.5 <= x < 2.5), (">=2.5", lambda x: x >= 2.5)])
table("Silences: recall by planned z", ("silence",), lambda r: r["z_total"], z_b)
table("Silences: recall by reports a week", ("silence",), lambda r: r["inc_rate"],
      [("<3", lambda x: x < 3), ("3-6", lambda x: 3 <= x < 6), (">=6", lambda x: x >= 6)])

print("\n### Missed detectable episodes")
print("| seed | kind | unit | weeks | shift | n/wk | usual incidents/wk | planned z | realised z | pipeline z (sum, max week) | season | feed | alerts on unit in window |")
print("|---|---|---|---|---:|---:|---:|---:|---:|---|---:|---|---|")
for r in rows:
    if r["detectable"] and not r["found"]:
        print(f"| {r['seed']} | {r['kind']} | {r['org']}/{r['unit']} | {r['start']}-{r['end']} ({r['weeks']}) | {r['shift']:.3f} | {r['mean_n']} | {r['inc_rate']:.1f} | {r['z_total']} | {r['z_real']} | {r['z_pipe']}, {r['z_pipe_max']} | {r['winter']} | {'monthly' if r['monthly'] else 'weekly'} | {','.join(r['kinds']) or '-'} |")
print("\n### Found episodes: pipeline z (sum) median", statistics.median([r["z_pipe"] for r in rows if r["found"] and r["kind"] in HT and r["z_pipe"] is not None]),
      "; missed:", statistics.median([r["z_pipe"] for r in rows if r["detectable"] and not r["found"] and r["kind"] in HT and r["z_pipe"] is not None]))
