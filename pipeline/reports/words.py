"""The words every report shares, and the numbers in them taken from the config the
tables were computed with: subject titles, small counts in words, the interval level and
the note on suppressed cells.
"""

from __future__ import annotations

from pipeline.config import DistrictConfig

SUBJECT_TITLES = {"reading": "Reading", "math": "Math", "behavior": "Behavior"}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def count_words(n: int) -> str:
    """A small count as a sentence writes it: 4 -> "four", 12 -> "12"."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def confidence_level(config: DistrictConfig) -> str:
    """The confidence level of the programs' intervals in percent, as in "95 % interval"."""
    return f"{round(config.effectiveness.confidence * 100, 1):g}"


def suppression_note(k: int) -> str:
    """What ``n<k`` and ``hidden`` mean, under a table with suppressed cells."""
    return (
        f"n<{k}: fewer than {k} students, not shown to protect their privacy. hidden: not "
        f"shown so that a group of fewer than {k} students cannot be worked out from the "
        "totals."
    )
