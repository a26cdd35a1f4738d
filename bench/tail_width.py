"""How the cost of a window's limits grows with its counts: tails summed term by term against
tails integrated (`pipeline.core.detection.count_numerics`, used from `WIDE_SPREAD` on).

For weekly feedback of n responses (a share of 0.8 with a between-window spread of 0.01 on the
share, as a large service might show), times the two 3-sigma limits (`highest_usual_count`,
`lowest_usual_count`, uncached) both ways, in the same run, and prints the ratio; the
term-by-term column stops once one measurement passes `--budget` seconds (it grows with the
spread: at the contract's largest counts it takes minutes). Also checks that both ways give the
same limits wherever both were timed.

Run: `python -m bench.tail_width [--budget 5]`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from unittest import mock

from pipeline.core.detection import predictive
from pipeline.core.detection.count_numerics import WIDE_SPREAD

RESPONSES = [10**3, 10**4, 10**5, 10**6, 10**7, 10**8, 10**9, 6 * (2**32 - 1)]


def limits(n: int) -> tuple[int, int]:
    mean, extra = 0.8 * n, (0.01 * n) ** 2
    high = predictive._highest_usual_count.__wrapped__(3.0, mean, extra, n)
    low = predictive._lowest_usual_count.__wrapped__(3.0, mean, extra, n)
    return high, low


def timed(run: Callable[[], tuple[int, int]]) -> tuple[float, tuple[int, int]]:
    start = time.process_time()
    result = run()
    return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=5.0, help="seconds per term-by-term run")
    args = parser.parse_args()
    print(
        f"{'responses':>12} {'spread':>12} {'integrated s':>13} {'term by term s':>15} {'ratio':>8}"
    )
    summing = True
    for n in RESPONSES:
        spread = (0.8 * 0.2 * n + (0.01 * n) ** 2) ** 0.5
        seconds, fast = timed(partial(limits, n))
        line = f"{n:>12,} {spread:>12,.0f} {seconds:>13.4f}"
        if summing:
            with mock.patch.object(predictive, "_smooth_spread", return_value=None):
                slow_seconds, slow = timed(partial(limits, n))
            assert (
                slow == fast
                or spread < WIDE_SPREAD
                or (abs(slow[0] - fast[0]) <= 1 and abs(slow[1] - fast[1]) <= 1)
            ), (slow, fast)
            line += f" {slow_seconds:>15.4f} {slow_seconds / max(seconds, 1e-9):>8.1f}"
            summing = slow_seconds < args.budget
        print(line, flush=True)


if __name__ == "__main__":
    main()
