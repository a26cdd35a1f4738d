"""Option types shared by the commands: a value outside what an option can mean is a usage
error (exit 2) naming the option, not a failure blamed on the data later."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def bounded_float(accept: Callable[[float], bool], what: str) -> Callable[[str], float]:
    """An argparse type: the number `accept` takes, else "TEXT is not WHAT" (a text that is
    no number is read as nan, which no bound accepts)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    return parse
