"""A deployment's stages ("1,10,50,100": cumulative percentages of its devices), as the CLI and the service
read them."""

from __future__ import annotations

import math

DEFAULT_STAGES = (1, 10, 50, 100)
MAX_STAGES = 10


def parse_stages(text: str) -> tuple[int, ...]:
    """Rising whole percentages from at least 1 that end at 100; ValueError says what is wrong."""
    parts = [part.strip() for part in text.split(",")]
    if not 1 <= len(parts) <= MAX_STAGES or not all(part.isascii() and part.isdigit() and len(part) <= 3
                                                     for part in parts):
        raise ValueError(f"stages are 1 to {MAX_STAGES} whole percentages separated by commas, such as "
                         f"1,10,50,100; not {text[:40]!r}")
    stages = tuple(int(part) for part in parts)
    if any(b <= a for a, b in zip(stages, stages[1:], strict=False)) or stages[0] < 1 or stages[-1] != 100:
        raise ValueError(f"stages must rise from at least 1 and end at 100; not {text[:40]!r}")
    return stages


def stage_bounds(stages: tuple[int, ...], count: int) -> list[int]:
    """How many of `count` devices the stages reach, cumulatively: one at least in the first, all in the
    last."""
    return [max(1, math.ceil(percent * count / 100)) for percent in stages]
