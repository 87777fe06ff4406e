"""Which path classifies a chunk (API or in-process), and the journal shape of a result.

The API is tried first; when it stays unavailable after the client's retries,
the rest of the run switches to the in-process Predictor (if
``fallback_local``), once and for all, and the run records the path used:
``api``, ``local`` or ``api+local``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence

from ..labels import OTHER
from ..model import TIER_TITLES, TierPolicy
from .client import ApiClient, ApiUnavailable, Upload
from .local import LocalClassifier


class Classifier:
    def __init__(self, api: ApiClient | None, local: LocalClassifier, fallback: bool,
                 on_switch: Callable[[str], None] = lambda reason: None,
                 on_version_change: Callable[[str, str], None] = lambda old, new: None):
        self.api = api
        self.local = local
        self.fallback = fallback
        self.on_switch = on_switch
        self.on_version_change = on_version_change
        self.versions: list[str] = []  # model versions that answered, in order of first use
        self._use_api = api is not None
        self._used: set[str] = set()
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        used = self._used or ({"api"} if self._use_api else {"local"})
        return "+".join(p for p in ("api", "local") if p in used)

    def switch_to_local(self, reason: str) -> None:
        with self._lock:
            if not self._use_api:
                return
            self._use_api = False
        self.on_switch(reason)

    def classify(self, uploads: Sequence[Upload]) -> tuple[list[dict], str]:
        """Results in input order, and the path that produced them."""
        if self._use_api:
            try:
                results = self.api.predict_batch(uploads)
                self._used.add("api")
                self._saw_versions(results)
                return results, "api"
            except ApiUnavailable as exc:
                if not self.fallback:
                    raise
                self.switch_to_local(str(exc))
        results = self.local.predict_batch(uploads)
        self._used.add("local")
        self._saw_versions(results)
        return results, "local"

    def _saw_versions(self, results: list[dict]) -> None:
        """Pin the fallback to the first version that answered; report any later change."""
        for version in {r.get("model_version") for r in results if r.get("model_version")}:
            with self._lock:
                if version in self.versions:
                    continue
                self.versions.append(version)
                first = self.versions[0]
            if len(self.versions) == 1:
                self.local.pin(version)
            else:
                self.on_version_change(first, version)


def succeeded(result: dict) -> bool:
    """Judged by the keys: ours say ``"status": "success"``; the reference API's batch items
    have no status, only ``filename``, ``category`` and ``confidence`` (or an ``error``)."""
    if "status" in result:
        return result["status"] == "success"
    confidence = result.get("confidence")
    return ("error" not in result and isinstance(result.get("category"), str) and bool(result["category"])
            and isinstance(confidence, int | float) and not isinstance(confidence, bool))


def journal_fields(result: dict, tiers: TierPolicy) -> dict:
    """A per-file result (API or local) -> the journal's columns."""
    if not succeeded(result):
        return {"status": "error", "error_code": str(result.get("code") or "error"),
                "error": str(result.get("error") or "unknown error")}
    confidence = float(result["confidence"])
    category = str(result["category"])
    probabilities = result.get("all_predictions") or result.get("all_probabilities") or {}
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    second = ranked[1] if len(ranked) > 1 else (None, None)
    if category == OTHER and result.get("closest_category"):  # what a "not ours" looks most like
        second = (result["closest_category"], result.get("closest_confidence"))
    return {
        "status": "success",
        "category": category,
        "confidence": confidence,
        # the batch's own thresholds decide the tier, whichever path classified
        "tier": tiers.tier(confidence, category),
        "top2_category": second[0],
        "top2_confidence": second[1],
        "all_predictions": json.dumps(dict(ranked)),
        "model_version": result.get("model_version"),
    }


def tier_title(tier: str | None) -> str:
    return TIER_TITLES.get(tier or "", "")
