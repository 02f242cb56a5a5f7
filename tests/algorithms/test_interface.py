"""The algorithm interface: an algorithm written here, against the protocol alone, trains the
tiny model through the unchanged trainer (REINFORCE with a group-mean baseline)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from biasgrpo.algorithms import ALGORITHMS
from biasgrpo.algorithms.base import Stateless, Stats
from biasgrpo.types import Batch, Forward
from tests.conftest import EASY_REWARD_RUN
from tests.test_train import reward_rise


@dataclass
class ReinforceConfig:
    name: str = "reinforce"
    num_generations: int = 8

    @property
    def group_size(self) -> int:
        return self.num_generations

    def validate(self) -> None:
        pass


@dataclass(frozen=True)
class Advantages:
    advantages: torch.Tensor  # [N]


class Reinforce(Stateless):
    """loss = -mean_i (r_i - mean_group r) · log π(y_i | x): no ratio, no clip, no KL."""

    online, update_epochs, needs_reference, uses_old_logprobs, needs_hidden = True, 1, False, False, False

    def __init__(self, cfg: ReinforceConfig) -> None:
        self.group_size = cfg.num_generations

    def prepare(self, batch: Batch, step: int) -> tuple[Advantages, Stats]:
        grouped = batch.rewards.view(-1, self.group_size)
        return Advantages((grouped - grouped.mean(1, keepdim=True)).flatten()), {}

    def loss(self, fwd: Forward, mb: Batch, step: int) -> tuple[torch.Tensor, Stats]:
        sequence_logprobs = (fwd.logprobs * mb.response_mask).sum(1)
        return -(mb.targets.advantages * sequence_logprobs).mean(), {}


def test_an_algorithm_written_against_the_protocol_trains(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ALGORITHMS, "reinforce", (ReinforceConfig, Reinforce))
    group = ConfigStore.instance().repo["algorithm"]
    monkeypatch.setattr(ConfigStore.instance(), "repo", {**ConfigStore.instance().repo, "algorithm": dict(group)})
    ConfigStore.instance().store(group="algorithm", name="reinforce", node=ReinforceConfig)
    cfg = make_cfg("algorithm=reinforce", *EASY_REWARD_RUN)
    first, last = reward_rise(cfg, tmp_path)
    assert last > first + 0.1, f"reward went from {first:.3f} to {last:.3f}"
