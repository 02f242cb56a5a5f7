"""The GRPO module: advantages with group stats, and the loss with and without KL."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from biasgrpo.algorithms.grpo import GRPO, GroupAdvantages, GRPOConfig
from biasgrpo.errors import ConfigError
from biasgrpo.types import Batch, Forward


def minibatch(advantages: torch.Tensor, ref: torch.Tensor | None, old: torch.Tensor | None = None) -> Batch:
    n, t = 2, 3
    return Batch(
        input_ids=torch.zeros(n, t, dtype=torch.long),
        attention_mask=torch.ones(n, t, dtype=torch.long),
        response_mask=torch.tensor([[1, 1, 0], [1, 1, 1]]),
        truncated=torch.zeros(n, dtype=torch.bool),
        rewards=None,
        old_logprobs=old,
        ref_logprobs=ref,
        old_hidden=None,
        targets=GroupAdvantages(advantages),
    )


def fwd(logprobs: torch.Tensor) -> Forward:
    return Forward(logprobs, None, None)


def test_advantages_and_group_stats() -> None:
    algo = GRPO(GRPOConfig(num_generations=2))
    adv, stats = algo.advantages(torch.tensor([0.0, 1.0, 0.5, 0.5]))
    assert adv[2:].abs().max() == 0  # the equal group
    assert stats["reward/frac_zero_std"].item() == pytest.approx(0.5)
    assert adv[0] < 0 < adv[1]


def test_loss_without_kl_is_minus_advantage_at_ratio_one() -> None:
    # ratio 1 everywhere: per-token loss = -A; seq_mean over sequences = -(A0 + A1) / 2
    algo = GRPO(GRPOConfig(num_generations=2, kl_coef=0.0))
    logp = torch.full((2, 3), -1.0, requires_grad=True)
    loss, stats = algo.loss(fwd(logp), minibatch(torch.tensor([1.0, 3.0]), None), 0)
    assert loss.item() == pytest.approx(-2.0)
    assert stats["policy/clip_frac"].item() == 0.0
    assert "policy/kl_ref" not in stats
    loss.backward()
    # d loss / d logp for sequence 0 (2 tokens, A = 1): -1 / 2 / 2 per token; masked token: 0.
    assert torch.allclose(logp.grad[0], torch.tensor([-0.25, -0.25, 0.0]))


def test_loss_adds_beta_times_k3() -> None:
    algo = GRPO(GRPOConfig(num_generations=2, kl_coef=0.5))
    logp = torch.zeros(2, 3)
    ref = torch.full((2, 3), -1.0)
    # k3 with r = ref - logp = -1: e^-1 + 1 - 1 = e^-1 on every token
    loss, stats = algo.loss(fwd(logp), minibatch(torch.zeros(2), ref), 0)
    k3 = torch.exp(torch.tensor(-1.0)).item()
    assert stats["policy/kl_ref"].item() == pytest.approx(k3)
    assert loss.item() == pytest.approx(0.5 * k3)


def test_positive_advantage_raises_logprob() -> None:
    algo = GRPO(GRPOConfig(num_generations=2, kl_coef=0.0))
    logits = torch.zeros(2, 3, 4, requires_grad=True)
    tokens = torch.tensor([[1, 2, 0], [3, 3, 3]])
    opt = torch.optim.SGD([logits], lr=1.0)
    before = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).detach()
    logp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    loss, _ = algo.loss(fwd(logp), minibatch(torch.tensor([1.0, -1.0]), None), 0)
    loss.backward()
    opt.step()
    after = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).detach()
    assert (after[0, :2] > before[0, :2]).all()
    assert (after[1] < before[1]).all()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("num_generations", 1),
        ("clip_eps", 0.0),
        ("clip_eps", 1.5),
        ("clip_eps_high", -0.1),
        ("kl_coef", -0.01),
        ("scale_rewards", "grup"),
        ("loss_type", "sum"),
        ("adv_eps", 0.0),
        ("update_epochs", 0),
        ("importance_sampling_level", "seq"),
        ("max_completion_length", 0),
    ],
)
def test_validate_names_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"algorithm.{key}="):
        GRPOConfig(**{key: value}).validate()


# ------------------------------------------------- TRL's variants by hand
# The minibatch above: lengths 2 and 3, advantages (1, 3), ratio 1 -> per-token losses -1 and -3,
# a masked sum of -(1 * 2 + 3 * 3) = -11.


@pytest.mark.parametrize(
    ("loss_type", "expected"),
    [("grpo", -2.0), ("bnpo", -11 / 5), ("dapo", -11 / (2 * 2.5)), ("dr_grpo", -11 / (2 * 4))],
)
def test_loss_types_by_hand(loss_type: str, expected: float) -> None:
    algo = GRPO(GRPOConfig(num_generations=2, kl_coef=0.0, loss_type=loss_type, max_completion_length=4))
    mb = minibatch(torch.tensor([1.0, 3.0]), None)
    targets, _ = algo.prepare(dataclasses.replace(mb, rewards=torch.tensor([0.0, 1.0])), 0)
    assert targets.batch_mean_length[0].item() == pytest.approx(2.5)  # (2 + 3) / 2, for dapo
    loss, _ = algo.loss(fwd(torch.zeros(2, 3)), dataclasses.replace(mb, targets=replace_adv(targets, mb)), 0)
    assert loss.item() == pytest.approx(expected)


def replace_adv(targets: GroupAdvantages, mb: Batch) -> GroupAdvantages:
    """The prepared targets with the minibatch's hand-set advantages (1, 3)."""
    return dataclasses.replace(targets, advantages=mb.targets.advantages)


def test_mask_truncated_completions_leaves_them_out() -> None:
    # Sequence 0 hit the length cap: only sequence 1 (A = 3) counts; grpo's mean over the two
    # sequences keeps the empty one as 0, as TRL does: (0 - 3) / 2.
    mb = dataclasses.replace(minibatch(torch.tensor([1.0, 3.0]), None), truncated=torch.tensor([True, False]))
    masked = GRPO(GRPOConfig(num_generations=2, kl_coef=0.0, mask_truncated_completions=True))
    loss, _ = masked.loss(fwd(torch.zeros(2, 3)), mb, 0)
    assert loss.item() == pytest.approx(-1.5)
    plain, _ = GRPO(GRPOConfig(num_generations=2, kl_coef=0.0)).loss(fwd(torch.zeros(2, 3)), mb, 0)
    assert plain.item() == pytest.approx(-2.0)


def test_sequence_level_ratio_clips_whole_completions() -> None:
    # Sequence 1's tokens all moved by +1 in log-prob: sequence ratio e^1 > 1.2, clipped for all
    # its tokens at 1.2 * A; sequence 0 unmoved: ratio 1. grpo aggregation: (-1 + -1.2 * 3) / 2.
    algo = GRPO(GRPOConfig(num_generations=2, kl_coef=0.0, importance_sampling_level="sequence"))
    old = torch.zeros(2, 3)
    logp = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    loss, stats = algo.loss(fwd(logp), minibatch(torch.tensor([1.0, 3.0]), None, old), 0)
    assert loss.item() == pytest.approx((-1.0 - 1.2 * 3) / 2)
    assert stats["policy/clip_frac"].item() == pytest.approx(3 / 5)
