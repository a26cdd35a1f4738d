"""What any detector could reach at the outside evaluator's "detectable" line (issue 13).

The outside family (`docs/evaluation/outside-family/gen.py`) calls a hitting-the-target episode
detectable when its planned shortfall, summed over the episode, is at least 3 sigma of the
unplanted process (`z_total`). This bench asks what recall any detector could have there within
the issue's budget of 0.1 false alarms per 100 quiet unit-weeks (1 per 1,000 unit-weeks over
every measure and kind), from the generator's own truth, on the seen seeds 1-3 only:

- **(a) best case**: an oracle that knows the unit's true weekly distributions and the episode's
  exact start and length tests the episode's pooled count once (the total positive responses,
  or the total harmful reports as the evaluator's scorer counts them, re-grades included): a
  Neyman-Pearson test at the episode's exact shift, randomised to spend its whole size. Its
  detection probability from the planned shift (exact convolutions of the weekly beta-binomial
  or gamma-Poisson laws; the week's responses drawn as the generator draws them), and, on the
  seed's realised counts, whether (with what probability, randomised) the test fires. Two
  sizes: the **bound** spends the budget of every week the scorer credits (the episode's and
  the 2 after) on this one test, which no detector alarming at an even 1 in 1,000 a week can
  beat; **1 look** tests at 1 in 1,000, one such test per unit-week.
- **(b) realistic oracle**: knows the true distributions and the shift's size, not the start or
  length: a one-sided CUSUM of the exact weekly log-likelihood ratio for that shift, its limit
  set (Markov chain on a 400-cell grid) for the in-control average run length the budget
  allows; detection when it signals in the episode's weeks or the 2 after (the scorer's
  tolerance), starting 20 in-control weeks before the episode, by Monte Carlo.

Budget, generous to both oracles: the whole 1 in 1,000 goes to the episode's own measure
(CUSUM: ARL 1,000); `--share 3` gives each of a unit's three
monitored measures a third (1 in 3,000). A real detector also has to learn the levels, scan every
start and length and cover every shift size with one design; neither oracle pays for any of it.

Run: `gen.py SEED /tmp/of/sSEED` for seeds 1-3, then
`python -m bench.outside_bound /tmp/of/s1 /tmp/of/s2 /tmp/of/s3 [--share 1] [--paths 4000]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent.parent / "docs" / "evaluation" / "outside-family"
BUDGET = 1e-3  # false alarms per unit-week over every measure and kind
AFTER = 2  # the scorer's tolerance after an episode
LEAD_IN = 20  # in-control CUSUM weeks before the episode
SHAPE = 25.0  # gen.INC_SHAPE
HARMFUL = 0.38  # gen.HARM_P: share of reports harmful
TO_NONE = 0.08 * 0.5 * 0.27 / 0.38  # a harmful report re-graded to "none" (low, then down)
TO_HARM = 0.08  # a harmless report re-graded (always up)
LINES = (3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0)
Floats = np.ndarray[Any, np.dtype[np.float64]]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"outside_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rising(a: float, top: int) -> Floats:
    """log Gamma(a + k) - log Gamma(a), k = 0..top."""
    out: Floats = np.concatenate(([0.0], np.cumsum(np.log(a + np.arange(top)))))
    return out


LOG_FACT = rising(1.0, 4000)


def betabinom_log(x: np.ndarray, n: np.ndarray, p: float, phi: float) -> Floats:
    """log P(x positive of n) for a beta-binomial with mean p and precision phi (as gen.py)."""
    a, b, top = p * phi, (1 - p) * phi, int(n.max()) + 1
    ra, rb, rab = rising(a, top), rising(b, top), rising(a + b, top)
    out: Floats = LOG_FACT[n] - LOG_FACT[x] - LOG_FACT[n - x] + ra[x] + rb[n - x] - rab[n]
    return out


def negbin(mean: float, top: int) -> Floats:
    k = np.arange(top + 1)
    if mean <= 0:
        return np.asarray(k == 0, dtype=np.float64)
    logp = rising(SHAPE, top) - LOG_FACT[k] + SHAPE * math.log(SHAPE / (SHAPE + mean))
    out: Floats = np.exp(logp + k * math.log(mean / (SHAPE + mean)))
    return out


def harm_pmf(mu_harmful: float, mu_harmless: float, top: int = 120) -> Floats:
    """A week's harmful reports on the latest revision: kept harmful plus harmless re-graded up."""
    out: Floats = np.convolve(
        negbin(mu_harmful * (1 - TO_NONE), top), negbin(mu_harmless * TO_HARM, top)
    )[: top + 1]
    return out


@dataclass
class Episode:
    seed: int
    kind: str
    unit: str
    start: int
    end: int
    shift: float
    z: float
    z_real: float
    mean_n: float
    law: dict[str, Floats]  # per-week arrays from the generator's own series, weeks 0..77
    observed: list[tuple[int, int]]  # realised (n, k) per episode week (k: positive or harmful)


def episodes(directory: str) -> list[Episode]:
    truth = json.loads(Path(directory, "truth.json").read_text())
    if truth["seed"] >= 4:
        raise SystemExit("seeds 4 and above are held out: this bench reads seeds 1-3 only")
    gen, score = load("gen"), load("score")
    g = gen.Gen(truth["seed"])
    for step in (g.layout, g.plant, g.series, g.detectability):
        step()
    units = {f"{o['org']}/{u['unit']}": u for o in g.orgs for u in o["units"]}
    obs = score.observed(directory, score.ts(truth["t0"]))
    found = []
    for plant, mine in zip(truth["plants"], g.truth, strict=True):
        assert plant["z_total"] == mine["z_total"], "gen.py no longer reproduces truth.json"
        if plant["kind"] not in ("divergence_feedback", "divergence_harm"):
            continue
        name = f"{plant['org']}/{plant['unit']}"
        u, key = units[name], "fb" if plant["kind"] == "divergence_feedback" else "inc"
        seen = [obs[key][(name, w)] for w in range(plant["start"], plant["end"] + 1)]
        law = {k: u[k] for k in ("n_t", "p_null", "p_t", "harm_null", "lam_null")}
        ep = Episode(truth["seed"], plant["kind"], name, plant["start"], plant["end"], 0.0, 0.0,
                     0.0, 0.0, law, [])  # fmt: skip
        ep.shift, ep.z, ep.z_real = plant["shift"], plant["z_total"], score.realised_z(plant, obs)
        ep.mean_n = plant["mean_n"]
        ep.law["phi"] = np.array([u["phi"]])
        ep.observed = [(n, k) if key == "fb" else (0, k) for n, k in seen]
        found.append(ep)
    return found


def week_pmf(ep: Episode, w: int, n: int | None, shifted: bool) -> Floats:
    """The pmf of the week's count (positive of n, or harmful reports), planted or not."""
    law = ep.law
    if ep.kind == "divergence_feedback":
        assert n is not None
        x = np.arange(n + 1)
        p = float(law["p_t"][w] if shifted else law["p_null"][w])
        return np.exp(betabinom_log(x, np.full_like(x, n), p, float(law["phi"][0])))
    mult = ep.shift if shifted else 1.0
    return harm_pmf(float(law["harm_null"][w]) * mult, float(law["lam_null"][w]) * (1 - HARMFUL))


def pooled(ep: Episode, ns: list[int | None], shifted: bool) -> Floats:
    total: Floats = np.ones(1)
    for w, n in zip(range(ep.start, ep.end + 1), ns, strict=True):
        total = np.convolve(total, week_pmf(ep, w, n, shifted))
    return total


def np_power(null: Floats, alt: Floats, alpha: float, low: bool) -> float:
    """Power of the randomised size-alpha test rejecting for a low (or high) pooled count."""
    if not low:
        null, alt = null[::-1], alt[::-1]
    cdf = np.cumsum(null)
    c = int(np.searchsorted(cdf, alpha, side="right"))  # reject fully below c
    below = cdf[c - 1] if c else 0.0
    frac = (alpha - below) / null[c] if c < len(null) and null[c] > 0 else 0.0
    return float(alt[:c].sum() + frac * (alt[c] if c < len(alt) else 0.0))


def oracle_a(ep: Episode, alpha: float, rng: np.random.Generator, draws: int) -> list[float]:
    """Detection probability of the pooled test at the episode's whole budget (alpha times its
    weeks and the 2 after) and at one look's (alpha): [planned, realised] for each."""
    low = ep.kind == "divergence_feedback"
    weeks = range(ep.start, ep.end + 1)
    sizes = (min(1.0, alpha * (len(weeks) + AFTER)), alpha)
    if low:
        planned = np.zeros(2)
        for _ in range(draws):
            ns: list[int | None] = [int(rng.poisson(ep.law["n_t"][w])) for w in weeks]
            null, alt = pooled(ep, ns, False), pooled(ep, ns, True)
            planned += [np_power(null, alt, size, True) / draws for size in sizes]
        real_ns: list[int | None] = [n for n, _ in ep.observed]
    else:
        real_ns = [None] * len(weeks)
        null, alt = pooled(ep, real_ns, False), pooled(ep, real_ns, True)
        planned = np.array([np_power(null, alt, size, False) for size in sizes])
    null = pooled(ep, real_ns, False)
    point = np.zeros_like(null)
    point[min(sum(k for _, k in ep.observed), len(null) - 1)] = 1.0
    real = [np_power(null, point, size, low) for size in sizes]
    return [float(planned[0]), real[0], float(planned[1]), real[1]]


def llr_weeks(ep: Episode, weeks: range, paths: int, rng: np.random.Generator) -> Floats:
    """Weekly log-likelihood ratios (shift vs none) on simulated weeks, shape (paths, weeks)."""
    law, out = ep.law, np.zeros((paths, len(weeks)))
    for j, w in enumerate(weeks):
        planted = ep.start <= w <= ep.end
        if ep.kind == "divergence_feedback":
            phi, p0 = float(law["phi"][0]), float(law["p_null"][w])
            p1 = max(0.01, p0 - ep.shift)
            n = rng.poisson(law["n_t"][w], paths)
            p = float(law["p_t"][w]) if planted else p0
            x = rng.binomial(n, rng.beta(p * phi, (1 - p) * phi, paths))
            out[:, j] = betabinom_log(x, n, p1, phi) - betabinom_log(x, n, p0, phi)
        else:
            mu, rest = float(law["harm_null"][w]), float(law["lam_null"][w]) * (1 - HARMFUL)
            q0, q1 = harm_pmf(mu, rest), harm_pmf(mu * ep.shift, rest)
            draw = q1 if planted else q0
            k = rng.choice(len(draw), paths, p=draw / draw.sum())
            out[:, j] = np.log(q1[k] + 1e-300) - np.log(q0[k] + 1e-300)
    return out


def arl(steps: Floats, probs: Floats, limit: float, cells: int = 400) -> float:
    """In-control average run length from 0 of max(0, S + llr), Brook-Evans Markov chain."""
    width = limit / cells
    mids = (np.arange(cells) + 0.5) * width
    moved = mids[:, None] + steps[None, :]
    idx = np.floor(np.maximum(moved, 0) / width).astype(int)
    q = np.zeros((cells, cells))
    for i in range(cells):
        ok = idx[i] < cells
        np.add.at(q[i], idx[i][ok], probs[ok])
    run = np.linalg.solve(np.eye(cells) - q, np.ones(cells))
    return float(run[0])


def cusum_limit(ep: Episode, target: float, rng: np.random.Generator) -> float:
    """The limit giving the target in-control ARL on the episode's weeks' in-control laws."""
    weeks = range(ep.start, ep.end + 1)
    steps = llr_weeks(replace(ep, start=-10, end=-10), weeks, 4000, rng).ravel()
    values, counts = np.unique(np.round(steps, 3), return_counts=True)
    probs = counts / counts.sum()
    lo, hi = 0.5, 40.0
    for _ in range(30):
        h = (lo + hi) / 2
        lo, hi = (h, hi) if arl(values, probs, h) < target else (lo, h)
    return hi


def oracle_b(ep: Episode, target: float, paths: int, rng: np.random.Generator) -> float:
    limit = cusum_limit(ep, target, rng)
    weeks = range(max(0, ep.start - LEAD_IN), ep.end + AFTER + 1)
    steps = llr_weeks(ep, weeks, paths, rng)
    s, hit = np.zeros(paths), np.zeros(paths, dtype=bool)
    for j, w in enumerate(weeks):
        s = np.maximum(0.0, s + steps[:, j])
        fired = s >= limit
        if w >= ep.start:
            hit |= fired
        s[fired] = 0.0
    return float(hit.mean())


def group(ep: Episode) -> list[str]:
    kind = "feedback" if ep.kind == "divergence_feedback" else "harm"
    if kind == "feedback":
        size = "n<25" if ep.mean_n < 25 else ("n 25-55" if ep.mean_n < 55 else "n>=55")
        shift = "-<0.12" if ep.shift < 0.12 else ("-0.12-0.18" if ep.shift < 0.18 else "->=0.18")
    else:
        size = "<2/wk" if ep.law["harm_null"][ep.start] < 2 else ">=2/wk"
        shift = "x<2" if ep.shift < 2 else ("x2-2.5" if ep.shift < 2.5 else "x>=2.5")
    line = "z 3-4" if ep.z < 4 else ("z 4-6" if ep.z < 6 else "z>=6")
    real = "realised z<4" if ep.z_real < 4 else "realised z>=4"
    return ["all", kind, f"{kind} {size}", f"{kind} {shift}", line, real]


COLUMNS = ("(a) bound", "realised", "(a) 1 look", "realised", "(b) CUSUM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="gen.py output folders of seeds 1-3")
    parser.add_argument("--share", type=int, default=1, help="measures sharing the budget")
    parser.add_argument("--paths", type=int, default=4000, help="CUSUM Monte Carlo paths")
    parser.add_argument("--draws", type=int, default=60, help="response-count draws for (a)")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    alpha = BUDGET / args.share
    rows: list[tuple[Episode, list[float]]] = []
    for d in args.dirs:
        for ep in episodes(d):
            if ep.z < LINES[0]:
                continue
            figures = [
                *oracle_a(ep, alpha, rng, args.draws),
                oracle_b(ep, 1 / alpha, args.paths, rng),
            ]
            rows.append((ep, figures))
            print(
                f"s{ep.seed} {ep.kind[11:]:8} {ep.unit:16} w{ep.start}-{ep.end} "
                f"shift {ep.shift:.3f} n {ep.mean_n:5.1f} z {ep.z:5.2f} zr {ep.z_real:5.2f} "
                + " ".join(f"{f:.2f}" for f in figures),
                flush=True,
            )
    print(
        f"\nbudget {alpha:.2g} per unit-week on the episode's measure (ARL {1 / alpha:,.0f}); "
        f"{len(rows)} detectable episodes; columns: " + ", ".join(COLUMNS)
    )
    groups: dict[str, list[list[float]]] = {}
    for ep, figures in rows:
        for name in group(ep):
            groups.setdefault(name, []).append(figures)
    for name in sorted(groups, key=lambda g: (g != "all", g)):
        means = np.mean(groups[name], axis=0)
        print(f"{name:20} {len(groups[name]):3} " + " ".join(f"{m:10.2f}" for m in means))
    print("\nexpected recall over every episode at or above a line (planned summed sigma)")
    for line in LINES:
        at = [figures for ep, figures in rows if ep.z >= line]
        if at:
            means = np.mean(at, axis=0)
            print(f"z >= {line:3.1f}: {len(at):3} " + " ".join(f"{m:10.2f}" for m in means))


if __name__ == "__main__":
    main()
