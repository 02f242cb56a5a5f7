"""Reward-model maths as pure tensor functions: the two training losses and held-out figures.

Notation: B pairs; ``chosen`` and ``rejected`` are the raw head outputs (logits) ``[B]``;
``scores`` ``[n]`` are scores of single texts and ``labels`` ``[n]`` their 1 (respectful) / 0 labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """-log σ(s_c - s_r), averaged over pairs (Bradley & Terry 1952; InstructGPT's reward model loss).

    ``logsigmoid`` rather than ``log(sigmoid)``: it stays finite for large negative margins.
    """
    return -F.logsigmoid(chosen - rejected).mean()


def regression_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(σ(s) - y)², averaged over texts: the score σ(s) is fitted to a target y in [0, 1]."""
    return (torch.sigmoid(logits) - targets).pow(2).mean()


def pairwise_accuracy(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Share of pairs with score(chosen) > score(rejected); a tie counts as half."""
    return ((chosen > rejected).float() + 0.5 * (chosen == rejected).float()).mean()


def auroc(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve: P(score of a random positive > score of a random negative).

    The Mann-Whitney U statistic with average ranks for ties:
    AUROC = (Σ ranks of positives - n₊(n₊ + 1)/2) / (n₊ n₋).
    """
    labels = labels.bool()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUROC needs both classes; got {n_pos} positives and {n_neg} negatives")
    order = scores.double().argsort()
    ranks = torch.empty_like(order, dtype=torch.float64)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    # Tied scores share the mean of their ranks.
    _, inverse, counts = scores.double().unique(return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, inverse, ranks)
    ranks = (sums / counts)[inverse]
    return (ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> torch.Tensor:
    """ECE of ``probs`` read as P(respectful): Σ_b (n_b / n) |mean label_b - mean prob_b| over equal-width bins."""
    index = (probs * bins).long().clamp(0, bins - 1)
    # Σ_b (n_b / n) |mean label_b - mean prob_b| = Σ_b |Σ label_b - Σ prob_b| / n
    prob_sum = torch.zeros(bins).index_add_(0, index, probs.float())
    label_sum = torch.zeros(bins).index_add_(0, index, labels.float())
    return (label_sum - prob_sum).abs().sum() / len(probs)


def platt_scaling(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100) -> tuple[float, float]:
    """(a, b) such that σ(a·s + b) is a calibrated P(respectful) (Platt 1999).

    Minimises the cross-entropy of σ(a·s + b) against Platt's smoothed targets,
    t₊ = (n₊ + 1) / (n₊ + 2) and t₋ = 1 / (n₋ + 2), which keep a and b finite even when
    the scores separate the classes perfectly.
    """
    x, y = logits.detach().double(), labels.bool()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    targets = torch.where(y, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2)).double()
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(params[0] * x + params[1], targets)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    a, b = params.detach().tolist()
    return a, b


def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of ``x`` ``[n]``, tied values sharing the mean of their ranks (float64)."""
    order = x.double().argsort()
    ranks = torch.empty(len(x), dtype=torch.float64)
    ranks[order] = torch.arange(1, len(x) + 1, dtype=torch.float64)
    _, inverse, counts = x.double().unique(return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, inverse, ranks)
    return (sums / counts)[inverse]


def spearman(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Spearman's ρ: the Pearson correlation of the average ranks of ``x`` and ``y`` ``[n]``.

    With ``y`` a 0/1 label it is the rank-biserial agreement of a score with the label;
    NaN when either side is constant (no ranking to correlate).
    """
    rx, ry = average_ranks(x) - (len(x) + 1) / 2, average_ranks(y) - (len(y) + 1) / 2
    return (rx * ry).sum() / (rx.pow(2).sum() * ry.pow(2).sum()).sqrt()


def group_spread(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """Mean over prompts of the std of the scores of a prompt's ``group_size`` samples.

    ``scores`` ``[B*G]``, grouped by prompt (the sampler's order); the std is the sample std,
    as GRPO's per-group advantage normalisation uses. The signal GRPO has to work with.
    """
    return scores.view(-1, group_size).std(dim=1).mean()
