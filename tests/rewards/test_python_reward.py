"""reward=python: a TRL-style reward function named by ``reward.target``, alone and in a composite."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig

from biasgrpo.config import validate
from biasgrpo.errors import ConfigError, RewardError
from biasgrpo.rewards import build_reward
from biasgrpo.rewards.composite import CompositeReward
from biasgrpo.rewards.python import PythonReward
from run import dispatch
from tests.conftest import compose_config

HERE = "tests.rewards.test_python_reward"
CALLS: list[dict] = []


def exclamations(prompts: list[str], completions: list[str], bonus: float = 0.0, **kwargs: object) -> list[float]:
    """TRL's signature: the number of '!' in each completion, plus ``bonus``; records what it was given."""
    CALLS.append({"prompts": prompts, "completions": completions, "bonus": bonus, **kwargs})
    return [c.count("!") + bonus for c in completions]


def one_score_short(prompts: list[str], completions: list[str], **kwargs: object) -> list[float]:
    return [1.0] * (len(completions) - 1)


def a_string(prompts: list[str], completions: list[str], **kwargs: object) -> list:
    return ["high"] * len(completions)


def as_numpy(prompts: list[str], completions: list[str], **kwargs: object) -> np.ndarray:
    return np.arange(len(completions), dtype=np.float32)


NOT_A_FUNCTION = 3


@pytest.mark.parametrize("sep", [":", "."])
def test_target_is_called_with_trl_signature(sep: str) -> None:
    CALLS.clear()
    conf = validate(
        compose_config(["reward=python", f"reward.target={HERE}{sep}exclamations", "+reward.kwargs.bonus=0.5"])
    )
    reward = build_reward(conf.reward)
    assert isinstance(reward, PythonReward) and reward.name == "python"
    scores = reward.score(["p1", "p2", "p3"], ["hi!", "", "wow!!!"])
    assert scores.dtype == torch.float32 and scores.tolist() == [1.5, 0.5, 3.5]
    assert CALLS == [{"prompts": ["p1", "p2", "p3"], "completions": ["hi!", "", "wow!!!"], "bonus": 0.5}]


def test_numpy_output_is_accepted() -> None:
    assert PythonReward("np", f"{HERE}:as_numpy").score(["p"] * 3, ["a", "b", "c"]).tolist() == [0.0, 1.0, 2.0]


def test_python_reward_is_a_composite_part(tmp_path: Path) -> None:
    """As the README shows: a copy of composite.yaml, in the user's own config folder, with one more part."""
    (tmp_path / "reward").mkdir()
    (tmp_path / "reward" / "with_bangs.yaml").write_text(
        f"defaults:\n  - composite\nparts:\n  bangs:\n    kind: python\n    target: {HERE}:exclamations\n"
        "    weight: 2\n"
    )
    overrides = ["reward=with_bangs", "reward.parts.bias.kind=token_fraction", f"hydra.searchpath=[file://{tmp_path}]"]
    conf = validate(compose_config(overrides))
    reward = build_reward(conf.reward)
    assert isinstance(reward, CompositeReward)
    scores = reward.score(["q", "q"], ["a a a a a!", "!!"])
    # "a a a a a!": token share 5/10, 5 words (length 0), one '!' x2 -> 2.5;
    # "!!": no 'a', 1 word -> length -(5-1)/5 = -0.8 x0.2 = -0.16, two '!' x2 = 4 -> 3.84.
    assert scores.tolist() == pytest.approx([0.5 + 2.0, -0.16 + 4.0])
    assert reward.last_parts["bangs"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_pkg.rewards:fn", r"reward\.target='no_such_pkg\.rewards:fn' does not import.*No module named"),
        (f"{HERE}:no_such_fn", r"does not import.*PYTHONPATH"),
        (f"{HERE}:NOT_A_FUNCTION", "is a int, not a function"),
        (f"{HERE}:PythonReward", "is a type, not a function"),
    ],
)
def test_a_target_that_does_not_resolve_is_a_config_error(target: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PythonReward("mine", target)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        ("one_score_short", r"returned 2 scores for 3 completions"),
        ("a_string", r"returned 'high' \(str\) for completion 0"),
    ],
)
def test_wrong_output_is_a_reward_error(fn: str, message: str) -> None:
    with pytest.raises(RewardError, match=message):
        PythonReward("mine", f"{HERE}:{fn}").score(["p"] * 3, ["a", "b", "c"])


@pytest.mark.parametrize("target", ["", "fn_without_module"])
def test_target_must_name_a_module_and_function(target: str) -> None:
    with pytest.raises(ConfigError, match=r"reward\.target"):
        validate(compose_config(["reward=python", f"reward.target={target}"]))


def test_training_with_a_python_reward(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    CALLS.clear()
    dispatch(make_cfg("reward=python", f"reward.target={HERE}:exclamations", "train.max_steps=1"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [r["reward/mean"] for r in rows if "reward/mean" in r]
    train_call = CALLS[0]  # the first call scores the first training batch (eval.before has no reward benchmark)
    expected = sum(c.count("!") for c in train_call["completions"]) / len(train_call["completions"])
    assert logged[0] == pytest.approx(expected)
