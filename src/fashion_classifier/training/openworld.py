"""Open-world measures: how well the model says "not one of ours" (pure numpy).

Every function takes the probabilities of the model's outputs (the categories
followed by ``Other``) and the decision rule of the Predictor: Other when it is
the likeliest output or its probability reaches ``other_threshold``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..model.tiers import TierPolicy

MIX_IN_PER_OUT = 3  # the open-world mix: three in-scope photos per other one


def decide(probs: np.ndarray, other_index: int, other_threshold: float | None = None):
    """(is_other, closest category index, its probability, answer confidence) per row."""
    in_scope = np.delete(np.arange(probs.shape[1]), other_index)
    closest = in_scope[np.argmax(probs[:, in_scope], axis=1)]
    closest_p = probs[np.arange(len(probs)), closest]
    p_other = probs[:, other_index]
    is_other = np.argmax(probs, axis=1) == other_index
    if other_threshold is not None:
        is_other |= p_other >= other_threshold
    return is_other, closest, closest_p, np.where(is_other, p_other, closest_p)


def auto_mask(probs, other_index, policy: TierPolicy, categories: Sequence[str], other_threshold=None):
    """Which rows the tier policy would auto-approve into a category."""
    is_other, closest, closest_p, _ = decide(probs, other_index, other_threshold)
    lines = np.array([policy.auto_line(categories[c]) for c in closest])
    return ~is_other & (closest_p >= lines), closest


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """P(a random other photo scores higher than a random in-scope one); ties count half."""
    scores = np.concatenate([in_scores, out_scores])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    n_in, n_out = len(in_scores), len(out_scores)
    if not (n_in and n_out):
        return float("nan")
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


def out_of_scope_score(probs: np.ndarray, other_index: int) -> np.ndarray:
    """Higher = more likely none of ours: the Other probability."""
    return probs[:, other_index]


def rates_out(probs, other_index, policy, categories, other_threshold=None) -> dict:
    """Photos that are none of ours: share called Other, share auto-approved into a category."""
    is_other, closest, _, _ = decide(probs, other_index, other_threshold)
    auto, _ = auto_mask(probs, other_index, policy, categories, other_threshold)
    taken = np.bincount(closest[~is_other], minlength=len(categories))
    worst = int(taken.argmax()) if (~is_other).any() else None
    return {"images": int(len(probs)), "called_other": float(is_other.mean()) if len(probs) else None,
            "auto_approved": float(auto.mean()) if len(probs) else None,
            "most_taken_as": categories[worst] if worst is not None else None}


def rates_by_type(probs, types: Sequence[str], other_index, policy, categories, other_threshold=None) -> dict:
    types = np.asarray(types)
    return {t: rates_out(probs[types == t], other_index, policy, categories, other_threshold)
            for t in sorted(set(types.tolist()), key=lambda t: -int((types == t).sum()))}


def rates_family(probs, types: Sequence[str], related: Mapping[str, str], other_index, categories,
                 other_threshold=None) -> dict:
    """Same-family types (a Kurti): share answered Other, the related category, or another one."""
    is_other, closest, _, _ = decide(probs, other_index, other_threshold)
    types = np.asarray(types)
    out = {}
    for t in sorted(set(types.tolist())):
        rows = types == t
        related_index = categories.index(related[t]) if related.get(t) in categories else -1
        as_related = ~is_other[rows] & (closest[rows] == related_index)
        out[t] = {"images": int(rows.sum()), "related": related.get(t),
                  "called_other": float(is_other[rows].mean()), "as_related": float(as_related.mean()),
                  "as_unrelated": float((~is_other[rows] & ~as_related).mean())}  # no float -0.0
    return out


def in_scope_rates(probs, labels, other_index, policy, categories, other_threshold=None) -> dict:
    """The in-scope test split under the open-world rule: Other answers count as wrong."""
    is_other, closest, _, _ = decide(probs, other_index, other_threshold)
    correct = ~is_other & (closest == labels)
    auto, _ = auto_mask(probs, other_index, policy, categories, other_threshold)
    return {"images": int(len(labels)), "called_other": float(is_other.mean()),
            "accuracy": float(correct.mean()),
            "auto_coverage": float(auto.mean()),
            "auto_precision": float(correct[auto].mean()) if auto.any() else None}


def mix_rates(in_probs, in_labels, out_probs, other_index, policy, categories, other_threshold=None,
              in_per_out: int = MIX_IN_PER_OUT) -> dict:
    """Auto-approve precision on a mix of ``in_per_out`` in-scope photos per other photo.

    The other photos are weighted (not sampled) to the ratio, so nothing is left to chance."""
    auto_in, closest_in = auto_mask(in_probs, other_index, policy, categories, other_threshold)
    auto_out, _ = auto_mask(out_probs, other_index, policy, categories, other_threshold)
    weight = len(in_labels) / in_per_out / max(1, len(out_probs))
    right = float((auto_in & (closest_in == in_labels)).sum())
    approved = float(auto_in.sum()) + weight * float(auto_out.sum())
    total = len(in_labels) + weight * len(out_probs)
    return {"in_per_out": in_per_out, "auto_precision": right / approved if approved else None,
            "auto_coverage_of_in_scope": float(auto_in.mean()), "auto_share_of_mix": approved / total,
            "other_auto_approved": float(auto_out.mean()) if len(out_probs) else None}


def fit_other_threshold(in_probs, out_probs, other_index, max_in_scope_other: float = 0.01) -> float | None:
    """The lowest P(Other) threshold that calls at most ``max_in_scope_other`` of in-scope val
    photos Other (beyond those whose likeliest output is already Other). None: argmax alone."""
    argmax_other = np.argmax(in_probs, axis=1) == other_index
    budget = max_in_scope_other - float(argmax_other.mean())
    if budget <= 0:
        return None
    p = np.sort(in_probs[~argmax_other, other_index])[::-1]
    k = int(np.floor(budget * len(in_probs)))
    threshold = float(p[k]) + 1e-6 if k < len(p) else 0.0
    return min(max(threshold, 0.05), 0.5)


def fit_auto_lines(in_probs, in_labels, out_probs, other_index, categories: Sequence[str],
                   target: float, fallback: float, other_threshold=None, min_support: int = 20,
                   in_per_out: int = MIX_IN_PER_OUT) -> dict[str, float]:
    """Per category, the lowest confidence line whose auto-approvals reach ``target`` precision on
    the validation mix (other photos weighted as in ``mix_rates``); ``fallback`` when no line does."""
    is_in_other, closest_in, p_in, _ = decide(in_probs, other_index, other_threshold)
    is_out_other, closest_out, p_out, _ = decide(out_probs, other_index, other_threshold)
    weight = len(in_labels) / in_per_out / max(1, len(out_probs))
    lines = {}
    for c, name in enumerate(categories):
        rows_in = ~is_in_other & (closest_in == c)
        rows_out = ~is_out_other & (closest_out == c)
        scores = np.concatenate([p_in[rows_in], p_out[rows_out]])
        right = np.concatenate([(in_labels[rows_in] == c).astype(float), np.zeros(rows_out.sum())])
        weights = np.concatenate([np.ones(rows_in.sum()), np.full(rows_out.sum(), weight)])
        lines[name] = _lowest_line(scores, right, weights, target, fallback, min_support)
    return lines


def _lowest_line(scores, right, weights, target, fallback, min_support) -> float:
    if len(scores) < min_support:
        return max(fallback, 0.5)
    order = np.argsort(-scores)
    precision = np.cumsum((right * weights)[order]) / np.cumsum(weights[order])
    ok = np.flatnonzero(precision >= target)
    # the longest prefix (most coverage) whose precision still meets the target
    if not len(ok):
        return 1.0
    k = ok[-1]
    return float(min(1.0, max(0.5, scores[order][k])))


def flat(result: Mapping) -> dict:
    """A compact view for the model card."""
    return {k: v for k, v in result.items() if not isinstance(v, dict)}


def with_auto_lines(policy: TierPolicy, lines: Mapping[str, float]) -> TierPolicy:
    return TierPolicy(policy.auto_threshold, policy.check_threshold, dict(lines), "precision")
