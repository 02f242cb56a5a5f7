"""DPO / IPO maths: the loss against hand-worked values, sequence log-probs, the config."""

from __future__ import annotations

import math

import pytest
import torch

from biasgrpo.algorithms import functional as F
from biasgrpo.algorithms.dpo import DPO, DPOConfig
from biasgrpo.errors import ConfigError

# One pair: π_c = -1, π_r = -2, ref_c = ref_r = -1.5.
# Log-ratios: chosen -1 - (-1.5) = 0.5, rejected -2 - (-1.5) = -0.5, so h = 1.
PAIR = (torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-1.5]), torch.tensor([-1.5]))


def _neg_log_sigmoid(x: float) -> float:
    return -math.log(1.0 / (1.0 + math.exp(-x)))


def test_sigmoid_loss_hand_computed():
    # β = 0.1: L = -log σ(0.1 · 1) = 0.64440; implicit rewards β · log-ratio = ±0.05.
    losses, chosen, rejected = F.dpo_loss(*PAIR, beta=0.1, kind="sigmoid")
    assert losses.item() == pytest.approx(_neg_log_sigmoid(0.1))
    assert losses.item() == pytest.approx(0.644397, abs=1e-6)
    assert chosen.item() == pytest.approx(0.05) and rejected.item() == pytest.approx(-0.05)


def test_sigmoid_loss_is_log2_when_policy_equals_reference():
    logps = torch.tensor([-3.0, -7.0])
    losses, _, _ = F.dpo_loss(logps, logps + 1, logps, logps + 1, beta=0.5, kind="sigmoid")
    torch.testing.assert_close(losses, torch.full((2,), math.log(2.0)))


def test_label_smoothing_hand_computed():
    # ε = 0.1: L = 0.9 · (-log σ(0.1)) + 0.1 · (-log σ(-0.1))
    losses, _, _ = F.dpo_loss(*PAIR, beta=0.1, kind="sigmoid", label_smoothing=0.1)
    expected = 0.9 * _neg_log_sigmoid(0.1) + 0.1 * _neg_log_sigmoid(-0.1)
    assert losses.item() == pytest.approx(expected)
    assert losses.item() > F.dpo_loss(*PAIR, beta=0.1, kind="sigmoid")[0].item()


def test_ipo_loss_hand_computed():
    # β = 0.1: target margin 1/(2β) = 5, h = 1 -> (1 - 5)² = 16
    losses, chosen, _ = F.dpo_loss(*PAIR, beta=0.1, kind="ipo")
    assert losses.item() == pytest.approx(16.0)
    assert chosen.item() == pytest.approx(0.05)
    # β = 0.5: target 1 = h -> loss 0: IPO stops pushing once the margin is reached.
    assert F.dpo_loss(*PAIR, beta=0.5, kind="ipo")[0].item() == pytest.approx(0.0)


def test_dpo_loss_gradient_raises_chosen_lowers_rejected():
    chosen = torch.tensor([-1.0], requires_grad=True)
    rejected = torch.tensor([-2.0], requires_grad=True)
    losses, _, _ = F.dpo_loss(chosen, rejected, torch.tensor([-1.5]), torch.tensor([-1.5]), 0.1, "sigmoid")
    losses.sum().backward()
    # dL/dπ_c = -β (1 - σ(β h)) = -0.1 · σ(-0.1); dL/dπ_r is its negation.
    grad = -0.1 / (1.0 + math.exp(0.1))
    assert chosen.grad.item() == pytest.approx(grad) and rejected.grad.item() == pytest.approx(-grad)


def test_dpo_loss_rejects_unknown_kind_and_smoothed_ipo():
    with pytest.raises(ValueError, match="unknown DPO loss 'hinge'"):
        F.dpo_loss(*PAIR, beta=0.1, kind="hinge")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.dpo_loss(*PAIR, beta=0.1, kind="ipo", label_smoothing=0.1)


def test_sequence_logprobs_sum_and_mean():
    logprobs = torch.tensor([[-1.0, -2.0, -3.0], [-4.0, -9.0, -9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    torch.testing.assert_close(F.sequence_logprobs(logprobs, mask, average=False), torch.tensor([-6.0, -4.0]))
    torch.testing.assert_close(F.sequence_logprobs(logprobs, mask, average=True), torch.tensor([-2.0, -4.0]))


def test_dpo_class_loss_and_stats():
    # Two pairs, β = 0.1. Pair 0 is PAIR (h = 1); pair 1 swaps chosen and rejected (h = -1).
    policy_c, policy_r = torch.tensor([-1.0, -2.0]), torch.tensor([-2.0, -1.0])
    ref = torch.tensor([-1.5, -1.5])
    algo = DPO(DPOConfig(beta=0.1))
    assert algo.needs_reference and not algo.average_logprobs
    loss, stats = algo.preference_loss(policy_c, policy_r, ref, ref)
    assert loss.item() == pytest.approx((_neg_log_sigmoid(0.1) + _neg_log_sigmoid(-0.1)) / 2)
    assert stats["dpo/loss"].item() == pytest.approx(loss.item())
    assert stats["dpo/rewards_chosen"].item() == pytest.approx(0.0)  # (0.05 - 0.05) / 2
    assert stats["dpo/rewards_rejected"].item() == pytest.approx(0.0)
    assert stats["dpo/margin"].item() == pytest.approx(0.0)  # (0.1 - 0.1) / 2
    assert stats["dpo/accuracy"].item() == pytest.approx(0.5)
    assert stats["dpo/logps_chosen"].item() == pytest.approx(-1.5)
    assert stats["dpo/logps_rejected"].item() == pytest.approx(-1.5)
    assert DPO(DPOConfig(loss_type="ipo")).average_logprobs


@pytest.mark.parametrize(
    ("key", "value", "extra"),
    [
        ("beta", 0.0, {}),
        ("loss_type", "hinge", {}),
        ("label_smoothing", -0.1, {}),
        ("label_smoothing", 0.5, {}),
        ("label_smoothing", 0.1, {"loss_type": "ipo"}),
    ],
)
def test_dpo_config_rejects_bad_values(key, value, extra):
    with pytest.raises(ConfigError, match=rf"algorithm\.{key}="):
        DPOConfig(**{key: value}, **extra).validate()


def test_dpo_config_defaults_are_valid():
    DPOConfig().validate()
    DPOConfig(loss_type="ipo", beta=0.5).validate()
    DPOConfig(label_smoothing=0.2).validate()
