"""RLOO: leave-one-out advantages, its loss by hand, config checks, and it learns on the tiny model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from biasgrpo.algorithms.rloo import RLOO, RLOOConfig
from biasgrpo.errors import ConfigError
from tests.algorithms.test_grpo import fwd, minibatch
from tests.conftest import EASY_REWARD_RUN
from tests.test_train import reward_rise


def test_prepare_gives_leave_one_out_advantages() -> None:
    # G = 2: each baseline is the other reward, so A = (r0 - r1, r1 - r0) = (-2, 2), unscaled.
    mb = dataclasses.replace(minibatch(torch.zeros(2), None), rewards=torch.tensor([1.0, 3.0]))
    targets, stats = RLOO(RLOOConfig(num_generations=2)).prepare(mb, 0)
    torch.testing.assert_close(targets.advantages, torch.tensor([-2.0, 2.0]))
    assert stats["adv/mean"].item() == 0.0


def test_loss_by_hand() -> None:
    # Ratio 1 (one update): per-token loss -A; sequence means -1 and -3, mean over the two: -2.
    # KL: ref = logp - 1 on every token, k3 = e^-1 + 1 - 1 = e^-1; times β = 0.5.
    algo = RLOO(RLOOConfig(num_generations=2, kl_coef=0.5))
    logp = torch.zeros(2, 3)
    loss, stats = algo.loss(fwd(logp), minibatch(torch.tensor([1.0, 3.0]), logp - 1.0), 0)
    k3 = torch.exp(torch.tensor(-1.0)).item()
    assert loss.item() == pytest.approx(-2.0 + 0.5 * k3)
    assert stats["policy/pg_loss"].item() == pytest.approx(-2.0)
    assert stats["policy/kl_ref"].item() == pytest.approx(k3)


@pytest.mark.parametrize(("key", "value"), [("num_generations", 1), ("clip_eps", 0.0), ("kl_coef", -1.0)])
def test_validate_names_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"algorithm.{key}="):
        RLOOConfig(**{key: value}).validate()


def test_rloo_learns_an_easy_reward(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg("algorithm=rloo", "algorithm.kl_coef=0", *EASY_REWARD_RUN)
    first, last = reward_rise(cfg, tmp_path)
    assert last > first + 0.1, f"reward went from {first:.3f} to {last:.3f}"
