"""PPO maths: GAE, the clipped value loss, explained variance, token rewards and the loss."""

from __future__ import annotations

import math

import pytest
import torch

from biasgrpo.algorithms import functional as F
from biasgrpo.algorithms.ppo import PPO, AdaptiveKLController, PPOConfig, PPOTargets, ValueHead
from biasgrpo.errors import ConfigError
from biasgrpo.kernels import token_logprobs
from biasgrpo.types import Batch

# ---------------------------------------------------------------- GAE


def test_gae_hand_computed():
    # Row 0: 3 real tokens, then a padded 4th whose reward and value must be ignored.
    # γ = 0.9, λ = 0.8, γλ = 0.72; V after the last real token is 0.
    #   t=2: δ = 1 + 0.9·0   - 0.3 =  0.70;  A = 0.70
    #   t=1: δ = 0 + 0.9·0.3 - 0.4 = -0.13;  A = -0.13 + 0.72·0.70  = 0.374
    #   t=0: δ = 0 + 0.9·0.4 - 0.5 = -0.14;  A = -0.14 + 0.72·0.374 = 0.12928
    #   R = A + V = 0.62928, 0.774, 1.0
    # Row 1: one real token: A = 2 - 0.5 = 1.5, R = 2.
    rewards = torch.tensor([[0.0, 0.0, 1.0, 5.0], [2.0, 7.0, 7.0, 7.0]])
    values = torch.tensor([[0.5, 0.4, 0.3, float("nan")], [0.5, 9.0, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    adv, returns = F.gae(rewards, values, mask, gamma=0.9, lam=0.8)
    torch.testing.assert_close(adv, torch.tensor([[0.12928, 0.374, 0.7, 0.0], [1.5, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(returns, torch.tensor([[0.62928, 0.774, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0]]))


def test_gae_lambda_zero_is_one_step_td():
    # λ = 0: A_t = r_t + γ V_{t+1} - V_t, with V_3 = 0 (end of the sequence).
    rewards = torch.tensor([[0.1, 0.2, 0.3]])
    values = torch.tensor([[1.0, 2.0, 3.0]])
    adv, _ = F.gae(rewards, values, torch.ones(1, 3), gamma=0.5, lam=0.0)
    # 0.1 + 0.5·2 - 1 = 0.1;  0.2 + 0.5·3 - 2 = -0.3;  0.3 + 0 - 3 = -2.7
    torch.testing.assert_close(adv, torch.tensor([[0.1, -0.3, -2.7]]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_lambda_one_gamma_one_gives_reward_to_go(seed):
    g = torch.Generator().manual_seed(seed)
    n, t = 5, 7
    rewards = torch.randn(n, t, generator=g)
    values = torch.randn(n, t, generator=g)
    lengths = torch.randint(1, t + 1, (n,), generator=g)
    mask = (torch.arange(t) < lengths[:, None]).float()
    _, returns = F.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    reward_to_go = torch.flip(torch.cumsum(torch.flip(rewards * mask, [1]), 1), [1]) * mask
    torch.testing.assert_close(returns, reward_to_go)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_padded_batch_matches_each_sequence_alone(seed):
    g = torch.Generator().manual_seed(seed)
    n, t = 4, 6
    rewards = torch.randn(n, t, generator=g)
    values = torch.randn(n, t, generator=g)
    lengths = torch.randint(1, t + 1, (n,), generator=g)
    mask = torch.arange(t) < lengths[:, None]
    adv, returns = F.gae(rewards, values, mask, gamma=0.95, lam=0.9)
    for i, length in enumerate(lengths.tolist()):
        alone_adv, alone_ret = F.gae(
            rewards[i : i + 1, :length], values[i : i + 1, :length], mask[i : i + 1, :length], 0.95, 0.9
        )
        torch.testing.assert_close(adv[i, :length], alone_adv[0])
        torch.testing.assert_close(returns[i, :length], alone_ret[0])
        assert torch.all(adv[i, length:] == 0) and torch.all(returns[i, length:] == 0)


# ---------------------------------------------------------------- value loss, explained variance


def test_clipped_value_loss_hand_computed():
    # ε = 0.2. Per token, max((v-R)², (clip(v, old±ε) - R)²):
    #   t0: v=1, old=0, R=2: clip(v)=0.2 -> (1-2)²=1 vs (0.2-2)²=3.24 -> 3.24, clipped branch wins
    #   t1: v=2, old=2, R=0: clip(v)=2   -> 4 vs 4                      -> 4,    not clipped
    #   t2: v=1, old=0, R=0: clip(v)=0.2 -> 1 vs 0.04                   -> 1,    not clipped
    #   t3: masked (v=100)
    # loss = 0.5 · (3.24 + 4 + 1) / 3 = 1.373333...; clip_frac = 1/3
    values = torch.tensor([[1.0, 2.0, 1.0, 100.0]])
    old_values = torch.tensor([[0.0, 2.0, 0.0, 0.0]])
    returns = torch.tensor([[2.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    loss, clip_frac = F.clipped_value_loss(values, old_values, returns, mask, clip_eps=0.2)
    assert loss.item() == pytest.approx(0.5 * 8.24 / 3)
    assert clip_frac.item() == pytest.approx(1 / 3)


def test_clipped_value_loss_gradient_vanishes_where_clipped():
    values = torch.tensor([[1.0, 1.0]], requires_grad=True)
    old_values = torch.tensor([[0.0, 0.0]])
    returns = torch.tensor([[2.0, 0.0]])  # t0: clipped branch wins, t1: unclipped (see above)
    loss, _ = F.clipped_value_loss(values, old_values, returns, torch.ones(1, 2), clip_eps=0.2)
    loss.backward()
    # t1: d/dv 0.5 · mean((v - 0)²) = 0.5 · 2v / 2 = 0.5
    torch.testing.assert_close(values.grad, torch.tensor([[0.0, 0.5]]))


def test_explained_variance_values():
    returns = torch.tensor([[1.0, 2.0, 3.0, 50.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert F.explained_variance(returns.clone(), returns, mask).item() == pytest.approx(1.0)
    assert F.explained_variance(torch.full_like(returns, 7.0), returns, mask).item() == pytest.approx(0.0)
    # R - V = [0, 0, -1]: unbiased var 1/3; Var[R] = 1 -> EV = 2/3
    values = torch.tensor([[1.0, 2.0, 4.0, 0.0]])
    assert F.explained_variance(values, returns, mask).item() == pytest.approx(2 / 3)


def test_explained_variance_zero_when_returns_constant():
    returns = torch.full((2, 3), 4.0)
    ev = F.explained_variance(torch.randn(2, 3), returns, torch.ones(2, 3))
    assert ev.item() == 0.0


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("num_generations", 0),
        ("clip_eps", 0.0),
        ("clip_eps", 1.5),
        ("vf_coef", 0.0),
        ("vf_clip_eps", -0.1),
        ("kl_coef", -0.01),
        ("kl_target", 0.0),
        ("kl_horizon", 0),
        ("gamma", 0.0),
        ("gamma", 1.1),
        ("gae_lambda", -0.1),
        ("gae_lambda", 1.01),
        ("update_epochs", 0),
        ("critic_lr", 0.0),
        ("critic_warmup_steps", -1),
    ],
)
def test_ppo_config_rejects_bad_values(key, value):
    cfg = PPOConfig(**{key: value})
    with pytest.raises(ConfigError, match=rf"algorithm\.{key}="):
        cfg.validate()


def test_ppo_config_kl_target_needs_kl_coef():
    with pytest.raises(ConfigError, match=r"algorithm\.kl_target=6"):
        PPOConfig(kl_coef=0.0, kl_target=6.0).validate()


def test_ppo_config_defaults_are_valid():
    PPOConfig().validate()
    PPOConfig(kl_target=6.0, critic_lr=1e-5).validate()


# ---------------------------------------------------------------- value head, KL controller


def test_value_head_reads_positions_predicting_the_response():
    # L = 5, T = 2: response tokens at 3, 4 are predicted from positions 2, 3.
    head = ValueHead(hidden_size=2)
    assert torch.all(head.response_values(torch.randn(1, 5, 2), 2) == 0)  # zero init
    with torch.no_grad():
        head.linear.weight.fill_(1.0)
    hidden = torch.arange(10.0).view(1, 5, 2)  # position i holds [2i, 2i+1]
    torch.testing.assert_close(head.response_values(hidden, 2), torch.tensor([[4.0 + 5.0, 6.0 + 7.0]]))
    assert head.response_values(hidden.to(torch.bfloat16), 2).dtype == torch.float32


def test_adaptive_kl_controller():
    # KL 12 vs target 6: error = clip(12/6 - 1) = 0.2; β = 0.1 · (1 + 0.2 · 256/10000) = 0.100512
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    ctl.update(12.0, n_steps=256)
    assert ctl.value == pytest.approx(0.100512)
    # KL 3 vs target 6: error = -0.5 clipped to -0.2; β shrinks by 1 - 0.2 · 1000/10000 = 0.98
    ctl.update(3.0, n_steps=1000)
    assert ctl.value == pytest.approx(0.100512 * 0.98)


def test_ppo_kl_coef_fixed_unless_target():
    fixed = PPO(PPOConfig(kl_coef=0.05))
    fixed.update_kl(100.0, n_steps=1000)
    assert fixed.kl_coef == 0.05
    adaptive = PPO(PPOConfig(kl_coef=0.05, kl_target=1.0, kl_horizon=100))
    adaptive.update_kl(100.0, n_steps=10)  # error 0.2: β = 0.05 · (1 + 0.2 · 0.1) = 0.051
    assert adaptive.kl_coef == pytest.approx(0.051)


# ---------------------------------------------------------------- token rewards, advantages


def test_token_rewards_hand_computed():
    # β = 0.5. Row 0 has 3 real tokens, row 1 has 1; the score lands on the last real one.
    #   kl row 0 = logp - ref = [0.2, -0.4, 0.6], row 1 = [1.0]
    #   r row 0 = [-0.1, 0.2, -0.3 + 2.0], row 1 = [-0.5 - 1.0]
    ppo = PPO(PPOConfig(kl_coef=0.5))
    logprobs = torch.tensor([[-1.0, -2.0, -1.0, -9.0], [-1.0, -9.0, -9.0, -9.0]])
    ref = torch.tensor([[-1.2, -1.6, -1.6, 0.0], [-2.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    rewards, stats = ppo.token_rewards(torch.tensor([2.0, -1.0]), logprobs, ref, mask)
    torch.testing.assert_close(rewards, torch.tensor([[-0.1, 0.2, 1.7, 0.0], [-1.5, 0.0, 0.0, 0.0]]))
    assert stats["policy/kl_ref"].item() == pytest.approx((0.2 - 0.4 + 0.6 + 1.0) / 4)
    assert stats["policy/kl_ref_seq"].item() == pytest.approx((0.4 + 1.0) / 2)
    assert stats["policy/kl_coef"].item() == pytest.approx(0.5)


def test_token_rewards_without_reference_is_the_score_alone():
    ppo = PPO(PPOConfig(kl_coef=0.0))
    assert not ppo.needs_reference
    rewards, stats = ppo.token_rewards(torch.tensor([3.0]), torch.zeros(1, 3), None, torch.tensor([[1, 1, 0]]))
    torch.testing.assert_close(rewards, torch.tensor([[0.0, 3.0, 0.0]]))
    assert "policy/kl_ref" not in stats


def test_advantages_match_gae_and_whiten():
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    mask = (torch.arange(5) < torch.tensor([[5], [3], [1], [4]])).float()
    raw = PPO(PPOConfig(whiten_advantages=False, gamma=0.9, gae_lambda=0.7))
    adv, returns, stats = raw.advantages(rewards, values, mask)
    expected_adv, expected_returns = F.gae(rewards, values, mask, 0.9, 0.7)
    torch.testing.assert_close(adv, expected_adv)
    torch.testing.assert_close(returns, expected_returns)
    assert stats["adv/mean"].item() == pytest.approx(F.masked_mean(expected_adv, mask).item())

    whitened, whitened_returns, _ = PPO(PPOConfig(gamma=0.9, gae_lambda=0.7)).advantages(rewards, values, mask)
    assert F.masked_mean(whitened, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert F.masked_var(whitened, mask).item() == pytest.approx(1.0, abs=1e-5)
    assert torch.all(whitened[mask == 0] == 0)
    torch.testing.assert_close(whitened_returns, expected_returns)  # critic targets are never whitened


# ---------------------------------------------------------------- loss


def _minibatch(advantages, old_logprobs, returns, old_values, mask):
    n, t = advantages.shape
    return Batch(
        input_ids=torch.zeros(n, t + 2, dtype=torch.long),
        attention_mask=torch.ones(n, t + 2, dtype=torch.long),
        response_mask=mask,
        truncated=torch.zeros(n, dtype=torch.bool),
        rewards=None,
        old_logprobs=old_logprobs,
        ref_logprobs=None,
        old_hidden=None,
        targets=PPOTargets(advantages, returns, old_values),
    )


def test_loss_at_ratio_one_hand_computed():
    # ρ = 1 everywhere: pg_loss = -mean(A) over the mask = -(1 - 2 + 4) / 3 = -1.
    # Values equal old values, so no value clipping: L_V = 0.5 · mean((V - R)²)
    #   = 0.5 · (1 + 0 + 4) / 3 = 5/6; total = -1 + 0.1 · 5/6.
    ppo = PPO(PPOConfig(vf_coef=0.1))
    logprobs = torch.tensor([[-1.0, -2.0, -3.0, -4.0]])
    values = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    mb = _minibatch(
        advantages=torch.tensor([[1.0, -2.0, 4.0, 100.0]]),
        old_logprobs=logprobs.clone(),
        returns=torch.tensor([[1.0, 1.0, 0.0, 0.0]]),
        old_values=values.clone(),
        mask=mask,
    )
    loss, stats = ppo.actor_critic_loss(logprobs, values, mb)
    assert loss.item() == pytest.approx(-1.0 + 0.1 * 5 / 6)
    assert stats["policy/pg_loss"].item() == pytest.approx(-1.0)
    assert stats["value/loss"].item() == pytest.approx(5 / 6)
    assert stats["policy/clip_frac"].item() == 0.0 and stats["value/clip_frac"].item() == 0.0
    assert stats["policy/approx_kl_old"].item() == 0.0
    assert stats["value/mean"].item() == pytest.approx(1.0)
    assert stats["value/return_mean"].item() == pytest.approx(2 / 3)
    assert set(stats) == {
        "policy/clip_frac",
        "policy/approx_kl_old",
        "policy/pg_loss",
        "value/loss",
        "value/clip_frac",
        "value/explained_var",
        "value/mean",
        "value/return_mean",
    }
    assert all(not v.requires_grad for v in stats.values())

    critic_only, _ = ppo.actor_critic_loss(logprobs, values, mb, train_policy=False)
    assert critic_only.item() == pytest.approx(0.1 * 5 / 6)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_loss_gradient_step_moves_logprob_with_the_advantage(sign):
    # One sequence of 3 tokens over a vocabulary of 4; only token 1 has an advantage.
    torch.manual_seed(0)
    logits = torch.nn.Parameter(torch.randn(1, 3, 4))
    tokens = torch.tensor([[2, 0, 3]])
    values = torch.nn.Parameter(torch.zeros(1, 3))
    mask = torch.ones(1, 3)
    before = token_logprobs(logits, tokens)[0].detach()
    mb = _minibatch(
        advantages=torch.tensor([[0.0, sign, 0.0]]),
        old_logprobs=before.clone(),
        returns=torch.zeros(1, 3),
        old_values=torch.zeros(1, 3),
        mask=mask,
    )
    loss, _ = PPO(PPOConfig()).actor_critic_loss(token_logprobs(logits, tokens)[0], values, mb)
    loss.backward()
    with torch.no_grad():
        logits -= 0.5 * logits.grad
    change = token_logprobs(logits, tokens)[0].detach() - before
    assert sign * change[0, 1].item() > 1e-3
    torch.testing.assert_close(change[0, [0, 2]], torch.zeros(2))  # zero advantage: untouched
    assert math.isfinite(loss.item())


def test_loss_without_policy_gives_policy_no_gradient():
    logits = torch.nn.Parameter(torch.randn(1, 2, 3))
    values = torch.nn.Parameter(torch.zeros(1, 2))
    tokens = torch.tensor([[0, 1]])
    mb = _minibatch(torch.ones(1, 2), torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1, 2), torch.ones(1, 2))
    loss, _ = PPO(PPOConfig()).actor_critic_loss(token_logprobs(logits, tokens)[0], values, mb, train_policy=False)
    loss.backward()
    assert logits.grad is None or torch.all(logits.grad == 0)
    assert torch.all(values.grad < 0)  # V below its return of 1: the step raises it


def test_trains_policy_after_critic_warmup():
    ppo = PPO(PPOConfig(critic_warmup_steps=2))
    assert [ppo.trains_policy(step) for step in range(4)] == [False, False, True, True]
