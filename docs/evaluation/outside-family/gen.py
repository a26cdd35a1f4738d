"""Independent scenario generator for a blind evaluation of `pipeline replay` (issue 13).

Written from the evaluation brief only (no project generator read). One trust:
6 organisations x 7-11 units x 78 ISO weeks. Writes events.jsonl (arrival order) and
truth.json (every planted episode / decoy with its detectability, per-unit parameters).

usage: python gen.py SEED OUTDIR
"""

from __future__ import annotations

import json
import math
import sys
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np

WEEKS = 78
NOW = datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)
EARLIEST = datetime(2023, 4, 3, tzinfo=timezone.utc)  # a Monday
HARM_LEVELS = ["none", "low", "moderate", "severe", "death"]
HARM_P = [0.62, 0.27, 0.08, 0.025, 0.005]  # 38% harmful (low and above)
CATEGORIES = ["medication", "fall", "pressure_ulcer", "infection", "delay_in_care",
              "diagnosis", "treatment", "communication", "discharge", "other"]
METRICS = [("ae_4h", 0.76), ("rtt_18w", 0.92), ("cancer_62d", 0.85), ("diag_6w", 0.95)]
UNIT_NAMES = ["ED", "AMU", "ICU", "maternity", "paeds", "ortho", "cardio", "oncology",
              "outpatients", "surgery", "renal", "stroke", "ward-1", "ward-2", "ward-3",
              "ward-4", "theatres", "endoscopy", "eye", "derm"]
INC_SHAPE = 25.0  # gamma-Poisson shape for weekly incident counts


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        r = self.rng
        # start: a Monday between 3 Apr 2023 and (now - 80 weeks)
        latest_start = NOW - timedelta(weeks=WEEKS + 2)
        span_weeks = (latest_start - EARLIEST).days // 7
        self.t0 = EARLIEST + timedelta(weeks=int(r.integers(0, span_weeks)))
        self.events: list[tuple[datetime, dict]] = []  # (arrival, event)
        self.uid = uuid.UUID(int=int(r.integers(0, 2**62)) << 64 | seed)
        self.n_ids = 0

    def new_id(self) -> str:
        self.n_ids += 1
        return str(uuid.uuid5(self.uid, str(self.n_ids)))

    def week_start(self, w: int) -> datetime:
        return self.t0 + timedelta(weeks=int(w))

    def winter(self, w: int) -> float:
        """0..1 winter intensity: a cosine bump centred on ~15 Jan, about 12 weeks wide."""
        mid = self.week_start(w) + timedelta(days=3.5)
        year = mid.year if mid.month >= 7 else mid.year - 1
        centre = datetime(year + 1, 1, 15, tzinfo=timezone.utc)
        d = (mid - centre).days / 7.0
        return 0.5 * (1 + math.cos(math.pi * d / 7.0)) if abs(d) < 7 else 0.0

    def arrive(self, t: datetime, mean_days: float = 1.5) -> datetime:
        a = t + timedelta(days=float(self.rng.exponential(mean_days)) + float(self.rng.uniform(0, 0.2)))
        return min(a, NOW)

    # ------------------------------------------------------------------ trust layout
    def layout(self) -> None:
        r = self.rng
        self.orgs = []
        codes = set()
        while len(codes) < 6:
            codes.add("R" + "".join(r.choice(list("ABCDEFGHJKLMNPQRTVWXY0123456789"), 2)))
        deep_org = int(r.integers(0, 6))
        for oi, code in enumerate(sorted(codes)):
            nu = int(r.integers(7, 12))
            names = list(r.choice(UNIT_NAMES, nu, replace=False))
            org = {
                "org": code,
                "winter_share": float(r.uniform(0.06, 0.10)) if oi == deep_org else float(r.uniform(0.015, 0.04)),
                "winter_att": float(r.uniform(0.04, 0.07)) if oi == deep_org else float(r.uniform(0.01, 0.04)),
                "winter_harm": float(r.uniform(1.0, 1.15)),
                "deep_winter": oi == deep_org,
                "units": [],
            }
            for name in names:
                metric, target = METRICS[int(r.integers(0, len(METRICS)))]
                size = float(math.exp(r.uniform(math.log(12), math.log(120))))
                org["units"].append({
                    "unit": str(name), "metric": metric, "target": target,
                    "monthly": bool(r.random() < 1 / 3),
                    "n": size,
                    "p0": float(r.uniform(0.72, 0.93)),
                    "neutral_frac": float(r.uniform(0.45, 0.65)),  # of non-positive
                    "phi": float(math.exp(r.uniform(math.log(60), math.log(500)))),
                    "drift_share": float(r.uniform(-0.04, 0.04)),
                    "att_margin": float(r.uniform(0.025, 0.08)),
                    "drift_att": float(r.uniform(-0.02, 0.02)),
                    "activity": float(math.exp(r.uniform(math.log(150), math.log(1500)))),
                    "inc_rate": float(r.uniform(1.0, 8.0)),
                    "size_factor": np.ones(WEEKS),
                    "share_shift": np.zeros(WEEKS),
                    "att_shift": np.zeros(WEEKS),
                    "att_floor": np.full(WEEKS, -1.0),
                    "harm_mult": np.ones(WEEKS),
                    "report_mult": np.ones(WEEKS),
                    "feed_off": np.zeros(WEEKS, dtype=bool),
                })
            self.orgs.append(org)

    # ------------------------------------------------------------------ plants
    def plant(self) -> None:
        r = self.rng
        self.truth: list[dict] = []
        units = [(o, u) for o in self.orgs for u in o["units"]]
        order = list(r.permutation(len(units)))
        deep_units = [(o, u) for (o, u) in units if o["deep_winter"]]
        # units of the deep-winter org are the seasonal decoys; keep them otherwise quiet
        free = [units[i] for i in order if not units[i][0]["deep_winter"]]
        # sort free units by size so episodes can be spread over sizes
        def take(pred=lambda ou: True):
            for i, ou in enumerate(free):
                if pred(ou):
                    return free.pop(i)
            if not free:
                raise SystemExit("not enough units for the plants: use another seed")
            return free.pop(0)

        def window(dmin: int, dmax: int) -> tuple[int, int]:
            d = int(r.integers(dmin, dmax + 1))
            s = int(r.integers(16, WEEKS - 3 - d))
            return s, s + d - 1

        # feedback-drop divergences, stratified over size tertiles
        size_bins = [(12, 25), (25, 55), (55, 121)]
        for k in range(10):
            lo, hi = size_bins[k % 3]
            o, u = take(lambda ou: lo <= ou[1]["n"] < hi)
            s, e = window(3, 12)
            delta = float(r.uniform(0.06, 0.25))
            u["share_shift"][s:e + 1] -= delta
            u["att_floor"][s:e + 1] = u["target"] + 0.03
            u["att_shift"][s:e + 1] += float(r.uniform(0.0, 0.03))
            self.truth.append(self.ep("divergence_feedback", o, u, s, e, shift=delta))
        # harm-rise divergences
        for k in range(6):
            o, u = take(lambda ou: ou[1]["inc_rate"] >= 3.0 or k % 2 == 1)
            s, e = window(3, 12)
            mult = float(r.uniform(1.5, 3.0))
            u["harm_mult"][s:e + 1] = mult
            u["att_floor"][s:e + 1] = u["target"] + 0.03
            self.truth.append(self.ep("divergence_harm", o, u, s, e, shift=mult))
        # reporting silences
        for k in range(7):
            o, u = take(lambda ou: ou[1]["inc_rate"] >= 2.0 or k >= 5)
            s, e = window(4, 10)
            frac = float(r.uniform(0.0, 0.3))
            u["report_mult"][s:e + 1] = frac
            self.truth.append(self.ep("silence", o, u, s, e, shift=frac))
        # decoys
        for k in range(3):  # target and experience fall together
            o, u = take()
            s, e = window(4, 8)
            delta = float(r.uniform(0.10, 0.20))
            u["share_shift"][s:e + 1] -= delta
            u["att_shift"][s:e + 1] -= u["att_margin"] + float(r.uniform(0.05, 0.10))
            self.truth.append(self.ep("decoy_both_fall", o, u, s, e, shift=delta))
        for k in range(3):  # size change (feedback, activity and incidents together)
            o, u = take()
            s = int(r.integers(20, WEEKS - 10))
            f = float(r.choice([0.4, 0.5, 2.0, 2.5]))
            u["size_factor"][s:] = f
            self.truth.append(self.ep("decoy_size_change", o, u, s, WEEKS - 1, shift=f))
        for k in range(3):  # one-week dip
            o, u = take()
            s = int(r.integers(16, WEEKS - 4))
            delta = float(r.uniform(0.08, 0.15))
            u["share_shift"][s] -= delta
            self.truth.append(self.ep("decoy_one_week_dip", o, u, s, s, shift=delta))
        for k in range(3):  # noisy small units, no change
            o, u = take()
            u["n"] = float(r.uniform(12, 18))
            u["phi"] = float(r.uniform(25, 40))
            self.truth.append(self.ep("decoy_noisy_small", o, u, 10, WEEKS - 1, shift=0.0))
        for k in range(2):  # whole feed stops
            o, u = take(lambda ou: not ou[1]["monthly"])
            s, e = window(6, 10)
            u["feed_off"][s:e + 1] = True
            self.truth.append(self.ep("decoy_feed_stops", o, u, s, e, shift=0.0))
        for o, u in deep_units:  # organisation-wide deep winter
            ws = [w for w in range(10, WEEKS) if self.winter(w) > 0.05]
            if ws:
                self.truth.append(self.ep("decoy_seasonal_org", o, u, ws[0], ws[-1],
                                          shift=o["winter_share"]))

    def ep(self, kind: str, o: dict, u: dict, s: int, e: int, shift: float) -> dict:
        return {"kind": kind, "org": o["org"], "unit": u["unit"], "start": s, "end": e,
                "start_date": iso(self.week_start(s)), "shift": shift, "size": u["n"],
                "monthly": u["monthly"], "inc_rate": u["inc_rate"], "phi": u["phi"]}

    # ------------------------------------------------------------------ series
    def series(self) -> None:
        for o in self.orgs:
            for u in o["units"]:
                w = np.arange(WEEKS)
                wint = np.array([self.winter(i) for i in w])
                u["n_t"] = u["n"] * u["size_factor"] * np.exp(self.rng.normal(0, 0.08, WEEKS))
                base_p = u["p0"] + u["drift_share"] * w / WEEKS - o["winter_share"] * wint
                u["p_t"] = np.clip(base_p + u["share_shift"], 0.2, 0.98)
                u["p_null"] = np.clip(base_p, 0.2, 0.98)
                att = (u["target"] + u["att_margin"] + u["drift_att"] * w / WEEKS
                       - o["winter_att"] * wint + u["att_shift"])
                att = np.where(u["att_floor"] > 0, np.maximum(att, u["att_floor"]), att)
                u["att_t"] = np.clip(att, 0.3, 0.995)
                u["act_t"] = u["activity"] * u["size_factor"] * np.exp(self.rng.normal(0, 0.05, WEEKS))
                hf = sum(HARM_P[1:])
                lam = u["inc_rate"] * u["size_factor"] * (1 + (o["winter_harm"] - 1) * wint)
                u["lam_null"] = lam  # all reports, usual
                u["harm_null"] = lam * hf
                u["lam_harmless"] = lam * HARM_P[0] * u["report_mult"]
                u["lam_harmful"] = lam * hf * u["harm_mult"] * u["report_mult"]

    # ------------------------------------------------------------------ detectability
    def detectability(self) -> None:
        units = {(o["org"], u["unit"]): u for o in self.orgs for u in o["units"]}
        for t in self.truth:
            u = units[(t["org"], t["unit"])]
            sl = slice(t["start"], t["end"] + 1)
            if t["kind"] == "divergence_feedback":
                n = u["n_t"][sl]
                p = u["p_null"][sl]
                var = n * p * (1 - p) * (1 + (n - 1) / (u["phi"] + 1))
                delta = u["p_null"][sl] - u["p_t"][sl]
                z = float((n * delta).sum() / math.sqrt(var.sum()))
                t["null"] = {"n": [round(float(x), 2) for x in n], "p": [round(float(x), 4) for x in p],
                             "var": round(float(var.sum()), 2)}
            elif t["kind"] == "divergence_harm":
                mu = u["harm_null"][sl]
                z = float(((t["shift"] - 1) * mu).sum() / math.sqrt((mu * (1 + mu / INC_SHAPE)).sum()))
                t["null"] = {"mu": round(float(mu.sum()), 2), "var": round(float((mu * (1 + mu / INC_SHAPE)).sum()), 2)}
            elif t["kind"] == "silence":
                lam = u["lam_null"][sl]
                z = float(((1 - t["shift"]) * lam).sum() / math.sqrt((lam * (1 + lam / INC_SHAPE)).sum()))
                t["null"] = {"mu": round(float(lam.sum()), 2), "var": round(float((lam * (1 + lam / INC_SHAPE)).sum()), 2)}
            else:
                z = 0.0
            t["z_total"] = round(z, 2)
            t["detectable"] = z >= 3.0 if t["kind"] in ("divergence_feedback", "divergence_harm", "silence") else None
            t["weeks"] = t["end"] - t["start"] + 1
            t["winter"] = round(float(np.mean([self.winter(i) for i in range(t["start"], t["end"] + 1)])), 2)
            t["mean_n"] = round(float(u["n_t"][sl].mean()), 1)

    # ------------------------------------------------------------------ events
    def emit(self, arrival: datetime, ev: dict) -> None:
        self.events.append((arrival, ev))

    def base(self, et: str, o: dict, u: dict, t: datetime, source: str) -> dict:
        return {"schema_version": 1, "event_type": et, "event_id": self.new_id(),
                "org_id": o["org"], "unit_id": u["unit"], "occurred_at": iso(t), "source": source}

    def events_for(self) -> None:
        r = self.rng
        end = self.week_start(WEEKS)
        for o in self.orgs:
            n_inc = 0
            for u in o["units"]:
                att_num = np.zeros(WEEKS)
                att_den = np.zeros(WEEKS)
                for w in range(WEEKS):
                    ws = self.week_start(w)
                    if u["feed_off"][w]:
                        continue
                    # feedback: beta-binomial positive share, rest neutral/negative/don't know
                    n = int(r.poisson(u["n_t"][w]))
                    pw = r.beta(u["p_t"][w] * u["phi"], (1 - u["p_t"][w]) * u["phi"])
                    npos = int(r.binomial(n, pw))
                    rest = n - npos
                    dk = int(r.binomial(rest, 0.08))
                    neu = int(r.binomial(rest - dk, u["neutral_frac"]))
                    neg = rest - dk - neu
                    ratings = ([1] * int(r.binomial(npos, 0.6)))
                    ratings += [2] * (npos - len(ratings))
                    ratings += [3] * neu + [6] * dk
                    n4 = int(r.binomial(neg, 0.6))
                    ratings += [4] * n4 + [5] * (neg - n4)
                    for rating in ratings:
                        t = ws + timedelta(seconds=float(r.uniform(0, 7 * 86400 - 1)))
                        ev = self.base("patient_feedback", o, u, t, "fft-survey")
                        ev["rating"] = rating
                        ev["channel"] = str(r.choice(["sms", "web", "paper", "kiosk"]))
                        self.emit(self.arrive(t), ev)
                    # target attainment (weekly counts; monthly units summed below)
                    den = max(1, int(r.poisson(u["act_t"][w])))
                    a = float(np.clip(u["att_t"][w] + r.normal(0, 0.012), 0.0, 1.0))
                    att_num[w] = r.binomial(den, a)
                    att_den[w] = den
                    if not u["monthly"]:
                        ev = self.base("target_metric", o, u, ws + timedelta(weeks=1), "perf-feed")
                        ev.update(metric=u["metric"], period_start=iso(ws), period_end=iso(ws + timedelta(weeks=1)),
                                  numerator=int(att_num[w]), denominator=int(att_den[w]), target=u["target"])
                        self.emit(self.arrive(ws + timedelta(weeks=1), 2.0), ev)
                    # incidents: gamma-Poisson
                    for lam, harmful in ((u["lam_harmless"][w], False), (u["lam_harmful"][w], True)):
                        k = int(r.poisson(r.gamma(INC_SHAPE, lam / INC_SHAPE))) if lam > 0 else 0
                        for _ in range(k):
                            n_inc += 1
                            if harmful:
                                h = int(r.choice([1, 2, 3, 4], p=np.array(HARM_P[1:]) / sum(HARM_P[1:])))
                            else:
                                h = 0
                            t = ws + timedelta(seconds=float(r.uniform(0, 7 * 86400 - 1)))
                            ref = f"INC-{o['org']}-{n_inc}"
                            ev = self.base("incident_report", o, u, t, "risk-system")
                            ev.update(category=str(r.choice(CATEGORIES)), harm=HARM_LEVELS[h],
                                      reporter_role="nurse", report_ref=ref, revision=1)
                            arr = self.arrive(t, 2.0)
                            self.emit(arr, ev)
                            if r.random() < 0.08:  # re-graded later by one level
                                h2 = min(4, h + 1) if (h == 0 or r.random() < 0.5) else h - 1
                                ev2 = dict(ev)
                                ev2.update(event_id=self.new_id(), harm=HARM_LEVELS[h2], revision=2)
                                self.emit(min(NOW, arr + timedelta(days=float(r.uniform(2, 30)))), ev2)
                # monthly returns for a third of units
                if u["monthly"]:
                    m = datetime(self.t0.year, self.t0.month, 1, tzinfo=timezone.utc)
                    while m < end:
                        nm = datetime(m.year + (m.month == 12), m.month % 12 + 1, 1, tzinfo=timezone.utc)
                        ps, pe = max(m, self.t0), min(nm, end)
                        num = den = 0.0
                        for w in range(WEEKS):
                            a0, a1 = self.week_start(w), self.week_start(w + 1)
                            ov = (min(a1, pe) - max(a0, ps)).total_seconds()
                            if ov > 0:
                                num += att_num[w] * ov / (7 * 86400)
                                den += att_den[w] * ov / (7 * 86400)
                        if den >= 1:
                            num_i = int(round(num))
                            den_i = max(int(round(den)), num_i, 1)
                            ev = self.base("target_metric", o, u, pe, "monthly-return")
                            ev.update(metric=u["metric"], period_start=iso(ps), period_end=iso(pe),
                                      numerator=num_i, denominator=den_i, target=u["target"])
                            self.emit(min(NOW, pe + timedelta(days=float(r.uniform(3, 12)))), ev)
                        m = nm
        # 1% duplicates, arriving later
        extra = []
        for arr, ev in self.events:
            if r.random() < 0.01:
                extra.append((min(NOW, arr + timedelta(days=float(r.uniform(0, 5)))), ev))
        self.events += extra
        self.events.sort(key=lambda x: x[0])

    def write(self, out: str) -> None:
        import os
        os.makedirs(out, exist_ok=True)
        with open(f"{out}/events.jsonl", "w") as f:
            for _, ev in self.events:
                f.write(json.dumps(ev) + "\n")
        units = {f"{o['org']}/{u['unit']}": {k: (v if not isinstance(v, np.ndarray) else None)
                                            for k, v in u.items() if not isinstance(v, np.ndarray)}
                 for o in self.orgs for u in o["units"]}
        with open(f"{out}/truth.json", "w") as f:
            json.dump({"seed": self.seed, "t0": iso(self.t0), "weeks": WEEKS, "plants": self.truth,
                       "units": units, "orgs": [{k: v for k, v in o.items() if k != "units"} for o in self.orgs],
                       "events": len(self.events)}, f, indent=1)


def main() -> None:
    seed, out = int(sys.argv[1]), sys.argv[2]
    g = Gen(seed)
    g.layout()
    g.plant()
    g.series()
    g.detectability()
    g.events_for()
    g.write(out)
    print(f"seed {seed}: {len(g.events)} events, t0 {g.t0.date()}, plants {len(g.truth)}")


if __name__ == "__main__":
    main()
