"""Serving-side model code: the shared Predictor and the refund tiers (no TensorFlow)."""

from .predictor import ModelInfo, Prediction, Predictor
from .tiers import AUTO, CHECK, REVIEW, TIER_TITLES, TIERS, TierPolicy

__all__ = ["AUTO", "CHECK", "REVIEW", "TIERS", "TIER_TITLES", "ModelInfo", "Prediction",
           "Predictor", "TierPolicy"]
