"""Rewards: ``score(prompts, completions) -> Tensor[N]``, higher = less biased.

Every reward is batched and runs without grad; :func:`check_scores` makes sure what
comes back is one finite float per completion, so a broken scorer is an error naming
the reward and the text, never a silent 0 or NaN reaching the weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import torch

from biasgrpo.config import REWARD_KINDS, RewardConfig
from biasgrpo.errors import RewardError


class Reward(Protocol):
    name: str

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor: ...


def _lexicon(cfg: RewardConfig) -> Reward:
    from biasgrpo.rewards.lexicon import LexiconReward

    return LexiconReward(cfg.name, cfg.sentiment_weight, cfg.toxicity_weight, cfg.generalisation_weight)


def _token_fraction(cfg: RewardConfig) -> Reward:
    from biasgrpo.rewards.token_fraction import TokenFractionReward

    return TokenFractionReward(cfg.name, cfg.token)


def _bias_rm(cfg: RewardConfig) -> Reward:
    from biasgrpo.rewards.classifier import load_bias_rm

    return load_bias_rm(cfg)


def _local_rm(cfg: RewardConfig) -> Reward:
    from biasgrpo.rewards.classifier import load_local_rm

    return load_local_rm(cfg)


def _length_penalty(cfg: RewardConfig) -> Reward:
    from biasgrpo.rewards.length import LengthPenalty

    return LengthPenalty(cfg.name, cfg.min_words, cfg.max_words)


def _python(cfg: RewardConfig) -> Reward:
    from biasgrpo.rewards.python import PythonReward

    return PythonReward(cfg.name, cfg.target, cfg.kwargs)


def _composite(cfg: RewardConfig) -> Reward:
    from biasgrpo.rewards.composite import CompositeReward

    parts = {k: (p.weight, build_reward(dataclasses.replace(p, name=p.name or k))) for k, p in cfg.parts.items()}
    return CompositeReward(cfg.name, parts)


# One builder per name of config.REWARD_KINDS (a test holds the two equal); each imports its module only when used.
BUILDERS: dict[str, Callable[[RewardConfig], Reward]] = {
    "lexicon": _lexicon,
    "token_fraction": _token_fraction,
    "bias_rm": _bias_rm,
    "local_rm": _local_rm,
    "length_penalty": _length_penalty,
    "python": _python,
    "composite": _composite,
}


def build_reward(cfg: RewardConfig) -> Reward:
    if cfg.kind not in BUILDERS:
        raise RewardError(f"reward.kind={cfg.kind!r} is unknown; use {' | '.join(REWARD_KINDS)}")
    return BUILDERS[cfg.kind](cfg)


def check_scores(
    reward: Reward, scores: object, prompts: list[str], completions: list[str], allow_nonfinite: bool = False
) -> torch.Tensor:
    """Return ``scores`` as a float32 ``[N]`` tensor, or raise naming the reward and the bad row.

    ``allow_nonfinite`` lets NaN/inf through for the trainer, which skips such a step
    and counts it instead of stopping a long run at the first bad score.
    """
    n = len(completions)
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
        raise RewardError(f"reward {reward.name!r} returned {type(scores).__name__}, not a float tensor")
    if scores.shape != (n,):
        raise RewardError(
            f"reward {reward.name!r} returned shape {tuple(scores.shape)} for {n} completions; want ({n},)"
        )
    bad = (~torch.isfinite(scores)).nonzero().flatten()
    if len(bad) and not allow_nonfinite:
        i = int(bad[0])
        raise RewardError(
            f"reward {reward.name!r} gave {scores[i].item()} for {len(bad)} completion(s); first: "
            f"prompt={prompts[i][:200]!r} completion={completions[i][:200]!r}"
        )
    return scores.float()
