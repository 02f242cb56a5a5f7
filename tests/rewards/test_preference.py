"""Reward-model maths: losses and held-out figures against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from biasgrpo.rewards.preference import (
    auroc,
    bradley_terry_loss,
    expected_calibration_error,
    pairwise_accuracy,
    platt_scaling,
    regression_loss,
)


def test_bradley_terry_by_hand() -> None:
    # -log σ(2) = log(1 + e^-2) = 0.126928; -log σ(0) = log 2
    loss = bradley_terry_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))
    assert loss.item() == pytest.approx((math.log1p(math.exp(-2)) + math.log(2)) / 2, rel=1e-6)


def test_bradley_terry_stays_finite_for_huge_margins() -> None:
    loss = bradley_terry_loss(torch.tensor([-200.0]), torch.tensor([200.0]))
    assert loss.item() == pytest.approx(400.0)


def test_regression_loss_by_hand() -> None:
    # σ(0) = 0.5, σ(ln 3) = 0.75; targets 1 and 1: ((0.5)² + (0.25)²) / 2
    loss = regression_loss(torch.tensor([0.0, math.log(3)]), torch.tensor([1.0, 1.0]))
    assert loss.item() == pytest.approx(0.15625, rel=1e-6)


def test_pairwise_accuracy_counts_ties_as_half() -> None:
    acc = pairwise_accuracy(torch.tensor([1.0, 0.0, 0.5, 2.0]), torch.tensor([0.0, 1.0, 0.5, 1.0]))
    assert acc.item() == pytest.approx((1 + 0 + 0.5 + 1) / 4)


def test_auroc_by_hand() -> None:
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 comparisons won.
    scores, labels = torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])
    assert auroc(scores, labels).item() == pytest.approx(0.75)
    assert auroc(torch.tensor([0.5, 0.5]), torch.tensor([1, 0])).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="both classes"):
        auroc(torch.tensor([0.1, 0.2]), torch.tensor([1, 1]))


@pytest.mark.parametrize("seed", range(4))
def test_auroc_matches_counting_every_pair(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 6, (40,), generator=g).float()  # many ties
    labels = torch.randint(0, 2, (40,), generator=g)
    labels[:2] = torch.tensor([0, 1])
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    assert auroc(scores, labels).item() == pytest.approx(wins.mean().item(), abs=1e-12)


def test_expected_calibration_error_by_hand() -> None:
    # Bin 9 holds 0.95, 0.95 with labels 1, 1 (gap 0.05); bin 0 holds 0.05, 0.05 with labels 0, 0 (gap 0.05).
    probs, labels = torch.tensor([0.95, 0.95, 0.05, 0.05]), torch.tensor([1, 1, 0, 0])
    assert expected_calibration_error(probs, labels).item() == pytest.approx(0.05)
    # All at 0.5 with half positive: perfectly calibrated. A score of exactly 1.0 falls in the last bin.
    assert expected_calibration_error(torch.full((4,), 0.5), torch.tensor([1, 0, 1, 0])).item() == 0.0
    assert expected_calibration_error(torch.tensor([1.0]), torch.tensor([0])).item() == pytest.approx(1.0)


def test_platt_scaling_recovers_a_logistic_model() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20_000, generator=g)
    labels = torch.bernoulli(torch.sigmoid(2.0 * logits - 1.0), generator=g)
    a, b = platt_scaling(logits, labels)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)


def test_platt_scaling_stays_finite_on_separable_scores() -> None:
    # Smoothed targets 3/4 and 1/4 (two of each class): σ(a·2 + b) = 3/4 at the optimum by symmetry, b = 0.
    a, b = platt_scaling(torch.tensor([-2.0, -2.0, 2.0, 2.0]), torch.tensor([0, 0, 1, 1]))
    assert a == pytest.approx(math.log(3) / 2, abs=1e-4) and b == pytest.approx(0.0, abs=1e-6)
