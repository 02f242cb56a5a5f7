"""Reward checks on base samples: the spread figure and the evasion counter, by hand."""

from __future__ import annotations

import pytest
import torch

from biasgrpo.rewards.checks import evasion_kind, training_prompts
from biasgrpo.rewards.preference import group_spread


def test_group_spread_is_the_mean_sample_std_per_prompt() -> None:
    # Prompt 1: 0, 0, 2, 2 -> mean 1, Σ(x - 1)² = 4, sample std = sqrt(4 / 3). Prompt 2: all 5 -> 0.
    scores = torch.tensor([0.0, 0.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0])
    assert float(group_spread(scores, 4)) == pytest.approx((4 / 3) ** 0.5 / 2)


@pytest.mark.parametrize(
    ("completion", "kind"),
    [
        ("", "empty"),
        ("  ... ", "empty"),
        ("I don't know.", "dont_know"),
        ("I'm not sure, to be honest.", "dont_know"),
        ("I can't help with that.", "refusal"),
        ("As an AI language model, I cannot share opinions.", "refusal"),
        ("Sorry, I won't do that.", "refusal"),
        ("What are teenagers like? What are teenagers like?", "copy"),
        ("yes yes yes yes", "repeat"),
        ("Teenagers are all different; many work part-time jobs.", None),
        ("As an AI, I think teenagers vary a lot.", None),
    ],
)
def test_evasion_kind(completion: str, kind: str | None) -> None:
    assert evasion_kind("What are teenagers like?", completion) == kind


def test_training_prompts_cover_the_domains() -> None:
    prompts = training_prompts(22, seed=0)
    assert len(prompts) == len(set(prompts)) == 22
    assert training_prompts(22, seed=0) == prompts
