"""The promotion gate: a candidate replaces the version in service only if it is not worse.

Compared on the same fixed test split and out-of-scope hold-out (the figures each
version's evaluation wrote into its model card) and on a held-back share of the
clerks' corrections (measured here, on the photos themselves). A figure worse by more
than the tolerance refuses the promotion; ``--force`` overrides and is recorded.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

# (name, where in the card, higher is better)
CARD_FIGURES = (
    ("test accuracy", ("metrics", "accuracy"), True),
    ("test macro-F1", ("metrics", "macro_f1"), True),
    ("in-scope photos called Other", ("metrics", "open_world", "fixed", "in_scope", "called_other"), False),
    (
        "held-out types called Other",
        ("metrics", "open_world", "fixed", "held_out_types", "called_other"),
        True,
    ),
    (
        "held-out types auto-approved",
        ("metrics", "open_world", "fixed", "held_out_types", "auto_approved"),
        False,
    ),
    ("auto-approve precision (test)", ("metrics", "tiers", "auto", "accuracy"), True),
)


@dataclass
class Check:
    name: str
    current: float | None
    candidate: float | None
    higher_is_better: bool
    tolerance: float

    @property
    def worse_by(self) -> float:
        if self.current is None or self.candidate is None:
            return 0.0
        delta = self.candidate - self.current
        return -delta if self.higher_is_better else delta

    @property
    def passed(self) -> bool:
        return self.worse_by <= self.tolerance

    def line(self) -> str:
        show = lambda v: "   -   " if v is None else f"{100 * v:6.2f}%"  # noqa: E731
        verdict = "ok" if self.passed else f"WORSE by {100 * self.worse_by:.2f} points"
        if self.current is None or self.candidate is None:
            verdict = "not compared (a version has no such figure)"
        return f"  {self.name:<34} {show(self.current)} -> {show(self.candidate)}  {verdict}"


@dataclass
class GateResult:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def as_dict(self) -> dict:
        return {
            c.name: {"current": c.current, "candidate": c.candidate, "passed": c.passed} for c in self.checks
        }

    def report(self) -> str:
        return "\n".join(c.line() for c in self.checks)


def figure(card: dict, path: tuple[str, ...]) -> float | None:
    value = card
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return None if value is None else float(value)


@dataclass
class SameTestSet(Check):
    """Figures from different test sets cannot be compared: that alone refuses a promotion."""

    @property
    def passed(self) -> bool:
        return self.current == self.candidate

    def line(self) -> str:
        if self.passed:
            count = "an unknown number of" if self.current is None else f"{self.current:.0f}"
            return f"  {self.name:<34} both on {count} test photos  ok"
        return (
            f"  {self.name:<34} {self.current} vs {self.candidate} test photos: NOT COMPARABLE "
            "(evaluate both on the whole test split)"
        )


def compare_cards(current: dict, candidate: dict, tolerance: float) -> GateResult:
    images = ("metrics", "images")
    same = SameTestSet("same fixed test split", figure(current, images), figure(candidate, images), True, 0.0)
    figures = [
        Check(name, figure(current, path), figure(candidate, path), higher, tolerance)
        for name, path, higher in CARD_FIGURES
    ]
    return GateResult([same, *figures])


def corrections_accuracy(predictor, holdout_csv: Path) -> float | None:
    """Share of the held-back corrections a model answers as the clerk did (None: none held back)."""
    if not holdout_csv.is_file():
        return None
    with open(holdout_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    right = total = 0
    for row in rows:
        photo = Path(row["path"])
        photo = photo if photo.is_absolute() else holdout_csv.parent / photo
        if not photo.is_file():
            continue
        total += 1
        right += predictor.predict_bytes(photo.read_bytes()).category == row["label"]
    return right / total if total else None
