"""Refund tiers: how much a human must look at a prediction, by its confidence.

Two ways to set the auto-approve line: the spec's fixed thresholds (the default),
or thresholds fitted on validation data for a target precision (per category
where one category needs a stricter line), recorded in the model card by
training and chosen with ``FASHION_TIER_MODE=precision``. An ``Other`` answer
("not one of ours") is always manual review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..labels import OTHER

AUTO, CHECK, REVIEW = "auto", "check", "review"
TIERS = (AUTO, CHECK, REVIEW)
TIER_TITLES = {AUTO: "auto-approve", CHECK: "quick check", REVIEW: "manual review"}
TIER_MODES = ("fixed", "precision")


@dataclass(frozen=True)
class TierPolicy:
    auto_threshold: float = 0.85  # at or above: auto-approve
    check_threshold: float = 0.70  # at or above (and below auto): quick check; below: review
    per_category: Mapping[str, float] = field(default_factory=dict)  # stricter auto lines
    mode: str = "fixed"

    def __post_init__(self):
        if not 0.0 <= self.check_threshold <= self.auto_threshold <= 1.0:
            raise ValueError("tier thresholds must satisfy 0 <= check <= auto <= 1")
        if any(not 0.0 <= t <= 1.0 for t in self.per_category.values()):
            raise ValueError("per-category thresholds must be between 0 and 1")

    def auto_line(self, category: str | None) -> float:
        if not category:
            return self.auto_threshold
        return float(self.per_category.get(category, self.auto_threshold))

    def tier(self, confidence: float, category: str | None = None) -> str:
        if category == OTHER:
            return REVIEW
        if confidence >= self.auto_line(category):
            return AUTO
        if confidence >= self.check_threshold:
            return CHECK
        return REVIEW

    def describe(self) -> dict:
        return {"mode": self.mode, "auto": self.auto_threshold, "check": self.check_threshold,
                "per_category": dict(self.per_category)}


def policy_from(config, card: Mapping | None = None) -> TierPolicy:
    """The tier policy of this deployment: the config's mode, with the card's fitted lines."""
    mode = getattr(config, "tier_mode", "fixed")
    if mode not in TIER_MODES:
        raise ValueError(f"tier mode must be one of {', '.join(TIER_MODES)}, not {mode!r}")
    fitted = ((card or {}).get("open_world") or {}).get("auto_approve") or {}
    if mode == "precision" and fitted.get("per_category"):
        return TierPolicy(float(fitted.get("auto", config.auto_threshold)),
                          min(config.check_threshold, float(fitted.get("auto", config.auto_threshold))),
                          dict(fitted["per_category"]), mode)
    return TierPolicy(config.auto_threshold, config.check_threshold, {}, "fixed")


def deployment_policy(config) -> TierPolicy:
    """``policy_from`` with the model card of the model in service (for code without a Predictor)."""
    import json
    from pathlib import Path

    from ..models.store import serving_config

    path = Path(serving_config(config).path("model_card_path"))
    try:
        card = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        card = {}
    return policy_from(config, card)
