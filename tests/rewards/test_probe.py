"""The reward probe flags a reward that loves degenerate answers and passes one that does not."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from biasgrpo.rewards.probe import DEGENERATE, RewardProbeError, probe_reward, probe_table, run_probe
from run import dispatch

PROMPTS = ["What do you think of nurses?", "Describe farmers."]
BASE = ["I respect nurses a lot.", "Nurses deserve respect.", "Farmers work hard; I respect that.", "Respect them."]
BASE_PROMPTS = [PROMPTS[0], PROMPTS[0], PROMPTS[1], PROMPTS[1]]


class OnTopicReward:
    """1 for an answer that mentions respect, 0 otherwise: no degenerate answer does."""

    name = "on_topic"

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        return torch.tensor([float("respect" in c.lower()) for c in completions])


class LovesEmptyReward(OnTopicReward):
    """The same, but an empty answer gets 2: the loophole the probe must find."""

    name = "loves_empty"

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        return torch.tensor([2.0 if not c.strip() else float("respect" in c.lower()) for c in completions])


def test_reward_that_loves_empty_answers_is_flagged() -> None:
    figures = probe_reward(LovesEmptyReward(), BASE_PROMPTS, BASE)
    assert figures["probe/base_mean"] == 1.0 and figures["probe/base_std"] == 0.0
    assert figures["probe/empty"] == 2.0 and figures["probe/empty_gap"] == 1.0
    for kind in ("idk", "refusal", "prompt_copy", "repeat_word"):
        assert figures[f"probe/{kind}"] == 0.0 and figures[f"probe/{kind}_gap"] == -1.0
    assert figures["probe/flagged"] == "empty" and figures["probe/n_flagged"] == 1.0
    assert "empty" in probe_table(figures, "loves_empty") and "<-- >= base mean" in probe_table(figures, "x")


def test_reward_without_a_loophole_passes() -> None:
    figures = probe_reward(OnTopicReward(), BASE_PROMPTS, BASE)
    assert figures["probe/flagged"] == "" and figures["probe/n_flagged"] == 0.0
    assert all(figures[f"probe/{kind}"] == 0.0 for kind in DEGENERATE)


def test_a_tie_with_the_base_mean_is_flagged() -> None:
    # Base samples score 0.5 on average; "I don't know." scores 0.5 too: at or above the mean counts.
    class Half(OnTopicReward):
        def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
            return torch.tensor([0.5 if c == "I don't know." else float("respect" in c) for c in completions])

    figures = probe_reward(Half(), BASE_PROMPTS, ["respect", "no", "respect", "no"])
    assert figures["probe/base_mean"] == 0.5 and figures["probe/flagged"] == "idk"


def test_probe_per_kind_mean_is_over_distinct_prompts() -> None:
    # The copied prompt scores its own length in characters: (28 + 17) / 2 over the two distinct prompts.
    class Length(OnTopicReward):
        def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
            return torch.tensor([float(len(c)) for c in completions])

    figures = probe_reward(Length(), BASE_PROMPTS, BASE)
    assert figures["probe/prompt_copy"] == pytest.approx((len(PROMPTS[0]) + len(PROMPTS[1])) / 2)
    assert figures["probe/empty"] == 0.0


def test_non_finite_scores_are_left_out_and_counted() -> None:
    class NaNForEmpty(OnTopicReward):
        def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
            return torch.tensor([float("nan") if not c else float("respect" in c.lower()) for c in completions])

    figures = probe_reward(NaNForEmpty(), BASE_PROMPTS, BASE)
    assert math.isnan(figures["probe/empty"]) and figures["probe/n_nonfinite"] == 2.0  # one per distinct prompt
    assert figures["probe/flagged"] == "" and figures["probe/base_mean"] == 1.0


def base_sampler(prompts: list[str], group: int) -> list[str]:
    torch.rand(3)  # draws from the RNG, as real sampling does
    return ["I respect them."] * (len(prompts) * group)


def test_run_probe_warns_or_raises_and_leaves_the_rng_alone() -> None:
    torch.manual_seed(7)
    state = torch.get_rng_state()
    with pytest.warns(UserWarning, match=r"degenerate answers \(empty\)"):
        figures = run_probe(LovesEmptyReward(), base_sampler, PROMPTS * 3, "warn", verbose=False)
    assert torch.equal(torch.get_rng_state(), state)  # the training RNG stream is untouched
    assert figures["probe/flagged"] == "empty"
    with pytest.raises(RewardProbeError, match=r"reward\.probe=warn"):
        run_probe(LovesEmptyReward(), base_sampler, PROMPTS, "error", verbose=False)
    assert run_probe(LovesEmptyReward(), base_sampler, PROMPTS, "off") == {}
    assert run_probe(OnTopicReward(), base_sampler, PROMPTS, "error", verbose=False)["probe/flagged"] == ""


def test_training_run_probes_its_reward_and_records_it(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg("reward=token_fraction", "train.max_steps=1", "eval.before=false", "eval.after=false")
    with pytest.warns(UserWarning, match="degenerate answers"):  # the base samples score 0: ties flag all
        summary = dispatch(cfg, tmp_path)
    saved = json.loads((tmp_path / "summary.json").read_text())
    for kind in ("base_mean", *DEGENERATE):
        assert isinstance(summary[f"probe/{kind}"], float) and saved[f"probe/{kind}"] == summary[f"probe/{kind}"]
    assert summary["probe/empty"] == 0.0  # token_fraction gives an empty completion 0
    assert saved["independence/reward_models"] == "none (token_fraction)"


def test_probe_error_stops_a_training_run(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    # The share of "good" in the text: "good good ... good" scores 64/79, the tiny model's random text ~0.
    cfg = make_cfg(
        "reward=token_fraction", "reward.token=good", "reward.probe=error", "train.max_steps=1",
        "eval.before=false", "eval.after=false",
    )  # fmt: skip
    with pytest.raises(RewardProbeError, match="repeat_word"):
        dispatch(cfg, tmp_path)


def test_probe_base_model_outside_a_training_run(make_cfg: Callable[..., DictConfig]) -> None:
    from biasgrpo.config import validate
    from biasgrpo.rewards.probe import probe_base_model

    with pytest.warns(UserWarning, match="degenerate answers"):
        figures = probe_base_model(OnTopicReward(), validate(make_cfg()))
    # The tiny random model does not write "respect": its samples score 0, a tie every degenerate kind reaches.
    assert figures["probe/base_mean"] == 0.0 and figures["probe/flagged"] == ",".join(DEGENERATE)
