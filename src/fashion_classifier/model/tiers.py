"""Refund tiers: how much a human must look at a prediction, by its confidence."""

from __future__ import annotations

from dataclasses import dataclass

AUTO, CHECK, REVIEW = "auto", "check", "review"
TIERS = (AUTO, CHECK, REVIEW)
TIER_TITLES = {AUTO: "auto-approve", CHECK: "quick check", REVIEW: "manual review"}


@dataclass(frozen=True)
class TierPolicy:
    auto_threshold: float = 0.85  # at or above: auto-approve
    check_threshold: float = 0.70  # at or above (and below auto): quick check; below: review

    def __post_init__(self):
        if not 0.0 <= self.check_threshold <= self.auto_threshold <= 1.0:
            raise ValueError("tier thresholds must satisfy 0 <= check <= auto <= 1")

    def tier(self, confidence: float) -> str:
        if confidence >= self.auto_threshold:
            return AUTO
        if confidence >= self.check_threshold:
            return CHECK
        return REVIEW
