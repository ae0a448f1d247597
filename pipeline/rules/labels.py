"""The words the rules and the reports share: tier, level and focus names, and grades."""

from __future__ import annotations

TIER_LABELS = {1: "Tier 1 (core)", 2: "Tier 2 (strategic)", 3: "Tier 3 (intensive)"}
LEVEL_LABELS = {
    "above": "Above Benchmark",
    "benchmark": "At Benchmark",
    "below": "Below Benchmark",
    "well_below": "Well Below Benchmark",
}
DIAGNOSTIC = "needs_diagnostic"
FOCUS_LABELS = {
    "phonemic_awareness": "Phonemic awareness",
    "phonics": "Phonics / decoding",
    "fluency": "Fluency",
    "comprehension": "Comprehension",
    "computation": "Computation",
    "concepts": "Concepts and application",
    "externalizing": "Externalizing behavior",
    "internalizing": "Internalizing behavior",
    DIAGNOSTIC: "Needs a diagnostic",
}
GRADE_WORDS = {-1: "PK", 0: "K"}
# Several domains at risk are named together: "computation + concepts".
FOCUS_JOIN = " + "


def focus_label(focus: object) -> str:
    """A focus as a specialist reads it: "computation + concepts" -> "Computation +
    Concepts and application"; missing -> ""."""
    if not isinstance(focus, str):
        return ""
    return FOCUS_JOIN.join(FOCUS_LABELS.get(part, part) for part in focus.split(FOCUS_JOIN))


def grade_label(grade: int) -> str:
    """A grade as a school writes it: -1 -> "PK", 0 -> "K", 3 -> "3"."""
    return GRADE_WORDS.get(int(grade), str(int(grade)))


def grade_span(grades: list[int]) -> str:
    """Sorted grades as a span: [2] -> "2", [0, 1] -> "K-1"."""
    names = [grade_label(g) for g in grades]
    return names[0] if len(names) == 1 else f"{names[0]}-{names[-1]}"
