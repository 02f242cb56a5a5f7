"""reward=composite: the weighted sum, per-part values and logging, shape and NaN checks; the length penalty."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from biasgrpo.config import validate
from biasgrpo.errors import ConfigError, RewardError
from biasgrpo.rewards import build_reward, check_scores
from biasgrpo.rewards.composite import CompositeReward
from biasgrpo.rewards.length import LengthPenalty
from biasgrpo.rewards.token_fraction import TokenFractionReward
from run import dispatch
from tests.conftest import compose_config

# With bias = token_fraction("a"): a composite that builds offline and in milliseconds.
FAST = ["reward=composite", "reward.parts.bias.kind=token_fraction"]


def test_length_penalty_by_hand() -> None:
    penalty = LengthPenalty("length", min_words=2, max_words=4)
    completions = ["", "one", "one two three", "a b c d e f", "a " * 12]
    # 0 words: -2/2; 1: -1/2; 3: inside; 6: -(6-4)/4; 12: -(12-4)/4 capped at -1.
    assert penalty.score([""] * 5, completions).tolist() == [-1.0, -0.5, 0.0, -0.5, -1.0]


def test_weighted_sum_and_unweighted_parts() -> None:
    parts = {"a": (2.0, TokenFractionReward("a", "a")), "length": (0.5, LengthPenalty("length", 2, 4))}
    reward = CompositeReward("composite", parts)
    scores = reward.score(["", ""], ["aaaa", "ab"])
    # "aaaa": 2·1 + 0.5·(-1/2) = 1.75;  "ab": 2·0.5 + 0.5·(-1/2) = 0.75
    assert scores.tolist() == [1.75, 0.75]
    assert reward.last_parts["a"].tolist() == [1.0, 0.5]
    assert reward.last_parts["length"].tolist() == [-0.5, -0.5]
    assert check_scores(reward, scores, ["", ""], ["aaaa", "ab"]).shape == (2,)


def test_composite_builds_from_config_with_named_parts() -> None:
    conf = validate(compose_config([*FAST, "reward.parts.length.weight=0.5"]))
    reward = build_reward(conf.reward)
    assert isinstance(reward, CompositeReward)
    assert {k: w for k, (w, _) in reward.parts.items()} == {"bias": 1.0, "length": 0.5}
    assert reward.parts["bias"][1].name == "bias"  # errors name the part
    scores = reward.score(["q"] * 2, ["a a a a a a", ""])
    # "a a a a a a": 6 'a' in 11 characters, 6 words inside [5, 60]; "": token share 0, length -1.
    assert scores.tolist() == pytest.approx([6 / 11, -0.5])


class Broken:
    def __init__(self, name: str, out: torch.Tensor) -> None:
        self.name, self.out = name, out

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        return self.out


@pytest.mark.parametrize(
    ("out", "message"),
    [(torch.zeros(3), r"'bad part' returned shape \(3,\)"), (torch.tensor([0.1, float("nan")]), "completion='two'")],
)
def test_a_bad_part_is_an_error_naming_it(out: torch.Tensor, message: str) -> None:
    reward = CompositeReward(
        "composite", {"ok": (1.0, LengthPenalty("ok", 1, 9)), "bad": (1.0, Broken("bad part", out))}
    )
    with pytest.raises(RewardError, match=message):
        reward.score(["p", "p"], ["one", "two"])


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["~reward.parts.bias", "~reward.parts.length"], "reward.parts"),
        (["reward.parts.bias.kind=composite"], "reward.parts.bias.kind"),
        (["reward.parts.length.min_words=80"], "reward.parts.length.min_words"),
        (["reward.parts.bias.input_format=chat"], "reward.parts.bias.input_format"),
        (["reward.parts.length.weight=nan"], "reward.parts.length.weight"),
    ],
)
def test_bad_parts_name_their_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose_config(["reward=composite", *overrides]))


def test_trainer_logs_each_part(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    summary = dispatch(make_cfg(*FAST, "train.max_steps=2"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "reward/mean" in r]
    assert len(steps) == 2
    for row in steps:
        # The logged parts are unweighted; the reward is their weighted sum (means are linear).
        assert row["reward/mean"] == pytest.approx(row["reward/part/bias"] + 0.2 * row["reward/part/length"], abs=1e-6)
        assert -1.0 <= row["reward/part/length"] <= 0.0
    assert "reward/part/length" in summary
