"""GRPO maths against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from biasgrpo.algorithms import functional as F


def test_group_advantages_by_hand() -> None:
    # Group 1: rewards 1, 3 -> mean 2, std (unbiased) = sqrt(((1-2)^2 + (3-2)^2) / 1) = sqrt(2)
    # Group 2: rewards 5, 5 -> mean 5, std 0: advantage 0, not NaN.
    rewards = torch.tensor([1.0, 3.0, 5.0, 5.0])
    adv = F.group_advantages(rewards, group_size=2, norm="group", eps=1e-4)
    s = math.sqrt(2) + 1e-4
    assert torch.allclose(adv, torch.tensor([-1 / s, 1 / s, 0.0, 0.0]))


def test_group_advantages_batch_and_none() -> None:
    rewards = torch.tensor([1.0, 3.0, 5.0, 5.0])
    # batch std of [1, 3, 5, 5]: mean 3.5, squares 6.25 + 0.25 + 2.25 + 2.25 = 11, /3 -> sqrt(11/3)
    batch = F.group_advantages(rewards, 2, "batch", eps=0.0)
    assert torch.allclose(batch, torch.tensor([-1.0, 1.0, 0.0, 0.0]) / math.sqrt(11 / 3))
    none = F.group_advantages(rewards, 2, "none", eps=1e-4)
    assert torch.allclose(none, torch.tensor([-1.0, 1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="unknown advantage norm"):
        F.group_advantages(rewards, 2, "grop", 1e-4)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("norm", ["group", "batch", "none"])
def test_group_advantages_sum_to_zero_per_group(seed: int, norm: str) -> None:
    g = torch.Generator().manual_seed(seed)
    rewards = torch.rand(6 * 4, generator=g)
    adv = F.group_advantages(rewards, 4, norm, 1e-4).view(6, 4)
    assert torch.allclose(adv.sum(1), torch.zeros(6), atol=1e-5)


def test_group_advantages_loop_matches_vectorised() -> None:
    rewards = torch.rand(5 * 3, generator=torch.Generator().manual_seed(0))
    expected = []
    for i in range(5):
        group = rewards[i * 3 : (i + 1) * 3].tolist()
        mean = sum(group) / 3
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / 2)
        expected += [(r - mean) / (std + 1e-4) for r in group]
    assert torch.allclose(F.group_advantages(rewards, 3, "group", 1e-4), torch.tensor(expected), atol=1e-6)


def test_kl_k3_by_hand() -> None:
    # logp = log 0.5, ref = log 0.25: r = ref - logp = log 0.5; k3 = e^r - r - 1 = 0.5 + log 2 - 1
    logp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    assert torch.allclose(F.kl_k3(logp, ref), torch.tensor([0.5 + math.log(2) - 1]))
    # Equal distributions: exactly zero.
    assert F.kl_k3(logp, logp).item() == 0.0
    # Never negative.
    x = torch.randn(100)
    assert (F.kl_k3(x, torch.randn(100)) >= 0).all()


def test_clipped_surrogate_by_hand() -> None:
    # ratios 1.5, 0.5, 1.1 with advantages +1, +1, -1 and ε = 0.2:
    #   token 0: min(1.5, 1.2) * 1 = 1.2 -> loss -1.2, clipped
    #   token 1: min(0.5, 0.8) * 1 = 0.5 -> loss -0.5, not clipped
    #   token 2: min(-1.1, -1.1) = -1.1 -> loss 1.1, not clipped (1.1 is inside [0.8, 1.2])
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    adv = torch.tensor([[1.0, 1.0, -1.0]])
    loss, clipped = F.clipped_surrogate(logp - old, adv, 0.2, 0.2)
    assert torch.allclose(loss, torch.tensor([[-1.2, -0.5, 1.1]]))
    assert clipped.tolist() == [[1.0, 0.0, 0.0]]
    # A separate upper ε (clip-higher): 1.5 is clipped to 1.3 instead.
    loss_high, _ = F.clipped_surrogate(logp - old, adv, 0.2, 0.3)
    assert torch.allclose(loss_high[0, 0], torch.tensor(-1.3))


def test_clip_fraction_is_zero_at_ratio_one() -> None:
    logp = torch.randn(4, 7)
    _, clipped = F.clipped_surrogate(logp - logp, torch.randn(4, 1), 0.2, 0.2)
    assert clipped.sum() == 0


def test_aggregate_by_hand() -> None:
    loss = torch.tensor([[1.0, 3.0, 100.0], [2.0, 2.0, 2.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    # grpo: (mean(1, 3) + mean(2, 2, 2)) / 2 = (2 + 2) / 2
    assert F.aggregate(loss, mask, "grpo").item() == pytest.approx(2.0)
    # bnpo: (1 + 3 + 2 + 2 + 2) / 5
    assert F.aggregate(loss, mask, "bnpo").item() == pytest.approx(2.0)
    loss[1] = torch.tensor([4.0, 4.0, 4.0])
    assert F.aggregate(loss, mask, "grpo").item() == pytest.approx((2 + 4) / 2)
    assert F.aggregate(loss, mask, "bnpo").item() == pytest.approx((1 + 3 + 12) / 5)
    # dapo: sum 16 / (2 sequences x a batch mean length of 4) = 2; dr_grpo: 16 / (2 x 8) = 1
    assert F.aggregate(loss, mask, "dapo", 4.0).item() == pytest.approx(2.0)
    assert F.aggregate(loss, mask, "dr_grpo", 8).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown loss type"):
        F.aggregate(loss, mask, "sum")


def test_importance_log_ratio_token_and_sequence_by_hand() -> None:
    logp = torch.tensor([[-1.0, -2.0, -9.0], [-1.0, -1.0, -1.0]])
    old = torch.tensor([[-1.5, -1.0, 0.0], [-2.0, -2.0, -2.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    torch.testing.assert_close(F.importance_log_ratio(logp, old, mask, "token"), logp - old)
    # sequence (GSPO): the mean log-ratio over real tokens, (0.5 - 1) / 2 = -0.25 and 1.
    torch.testing.assert_close(F.importance_log_ratio(logp, old, mask, "sequence"), torch.tensor([[-0.25], [1.0]]))
    # One ratio per sequence: every token of sequence 1 is clipped at 1 + ε with A > 0.
    loss, clipped = F.clipped_surrogate(F.importance_log_ratio(logp, old, mask, "sequence"), torch.ones(2, 1), 0.2, 0.2)
    assert loss[1].item() == pytest.approx(-1.2) and clipped[1].item() == 1.0
    assert loss[0].item() == pytest.approx(-math.exp(-0.25)) and clipped[0].item() == 0.0


def test_masked_mean_of_empty_mask_is_zero() -> None:
    assert F.masked_mean(torch.ones(3), torch.zeros(3)).item() == 0.0


def test_masked_whiten() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 1000.0])
    mask = torch.tensor([1, 1, 1, 0])
    w = F.masked_whiten(values, mask)
    # Over the first three: mean 2, unbiased variance 1 -> (-1, 0, 1).
    assert torch.allclose(w[:3], torch.tensor([-1.0, 0.0, 1.0]), atol=1e-4)


def test_leave_one_out_advantages_by_hand() -> None:
    # Group (1, 2, 6): baselines (2+6)/2 = 4, (1+6)/2 = 3.5, (1+2)/2 = 1.5 -> (-3, -1.5, 4.5).
    # Group (5, 5, 5): every baseline 5 -> 0.
    adv = F.leave_one_out_advantages(torch.tensor([1.0, 2.0, 6.0, 5.0, 5.0, 5.0]), 3)
    torch.testing.assert_close(adv, torch.tensor([-3.0, -1.5, 4.5, 0.0, 0.0, 0.0]))
    # = G/(G-1) times the mean-centred reward
    torch.testing.assert_close(adv[:3], 1.5 * (torch.tensor([1.0, 2.0, 6.0]) - 3.0))
