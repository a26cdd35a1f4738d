"""What redaction costs on adversarial text, as the ratio of 10x longer text to the base length.

Text shaped against each pattern (a long run of email-address characters with no `@`, digits
parted by every kind of gap, unclosed quoted strings, invisible characters between digits) is
redacted at a base length and at ten times that length, in the same run. Linear work gives a
ratio near 10; a pattern that backtracks or rescans gives 100 or more. The decode of a whole
rejected line (free text at the contract's limit) is measured the same way. `base_us` gives
each shape's time at the base length (best of `--repeat`), to compare two versions alternately.

Run: `python -m bench.redaction_cost [--chars 1000] [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from pipeline.core.decode import decode
from pipeline.core.privacy import redact_free_text, redact_rejected

SHAPES: dict[str, Callable[[int], str]] = {
    "email_local_part_without_at": lambda n: "a." * (n // 2),
    "email_domain_without_dot": lambda n: "a@" + "b" * (n - 2),
    "digits_with_gaps": lambda n: "1 -" * (n // 3),
    "digits_with_wide_gaps": lambda n: ("12" + " " * 8) * (n // 10),
    "phone_shaped": lambda n: "0" + "1 " * (n // 2),
    "postcode_shaped": lambda n: "A1" + " " * (n - 2),
    "date_shaped": lambda n: "1/1/" * (n // 4),
    "invisible_between_digits": lambda n: "9\u200b" * (n // 2),
    "full_width_digits": lambda n: "\uff19" * n,
    # no gap and no 10 digits in a row a valid NHS number: every window of the run is checked
    "digits_without_gaps": lambda n: "12" * (n // 2),
    "quotes_unclosed": lambda n: '"patient' + '\\"' * (n // 2),
    "keys_without_values": lambda n: '"patient_ref":' * (n // 14),
}


def cost(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ratios: dict[str, float] = {}
    base_us: dict[str, float] = {}
    for name, shape in SHAPES.items():
        small, large = shape(args.chars), shape(args.chars * 10)
        for kind, redact in (("text", redact_free_text), ("raw", _raw)):
            base = cost(lambda r=redact, s=small: r(s), args.repeat)  # type: ignore[misc]
            big = cost(lambda r=redact, s=large: r(s), args.repeat)  # type: ignore[misc]
            ratios[f"{name}/{kind}"] = round(big / max(base, 1e-9), 1)
            base_us[f"{name}/{kind}"] = round(base * 1e6, 1)
    line = json.dumps({"schema_version": 1, "comment": SHAPES["email_local_part_without_at"](9000)})
    ratios["decode_rejected_line"] = round(
        cost(lambda: decode(line.encode() * 10), args.repeat)
        / max(cost(lambda: decode(line.encode()), args.repeat), 1e-9),
        1,
    )
    print(json.dumps({"chars": args.chars, "ratio_10x": ratios, "base_us": base_us}, indent=2))


def _raw(text: str) -> bytes:
    return redact_rejected(text.encode("utf-8"))


if __name__ == "__main__":
    main()
