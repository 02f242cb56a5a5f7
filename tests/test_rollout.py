"""Rollout assembly: taking rows and joining rollouts of different lengths leaves every
sequence's log-probs as they were (the padding is invisible to the model)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig

from biasgrpo.config import SamplerConfig, validate
from biasgrpo.rollout import concat, take
from biasgrpo.sampler import sample
from biasgrpo.trainer import Trainer
from tests.test_sampler import trained_lora_policy


def test_concat_and_take_keep_each_sequence_and_its_logprobs() -> None:
    policy = trained_lora_policy()
    a = sample(policy, ["Hi", "What are nurses like?"], 2, SamplerConfig(max_new_tokens=4))
    b = sample(policy, ["Describe engineers, please, in some detail."], 2, SamplerConfig(max_new_tokens=9))
    joined = concat(a, b, policy.tokenizer.pad_token_id)
    prompt_len = max(ro.input_ids.shape[1] - ro.response_len for ro in (a, b))
    assert joined.response_len == max(a.response_len, b.response_len)
    assert joined.input_ids.shape == (6, prompt_len + joined.response_len)
    assert joined.prompts == a.prompts + b.prompts and joined.completions == a.completions + b.completions

    def logprobs(ro):  # per sequence, only its real response tokens
        with torch.no_grad():
            lp = policy.response_forward(policy.model, ro.input_ids, ro.attention_mask, ro.response_len).logprobs
        return [row[mask.bool()] for row, mask in zip(lp, ro.response_mask)]

    for got, want in zip(logprobs(joined), logprobs(a) + logprobs(b)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    picked = take(joined, [4, 0])
    assert picked.completions == [b.completions[0], a.completions[0]]
    torch.testing.assert_close(logprobs(picked)[0], logprobs(b)[0], atol=1e-5, rtol=1e-5)


def test_dynamic_sampling_replaces_groups_of_equal_rewards(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    """Two-token completions scored by their share of 'a': most groups of 2 score (0, 0) and are
    replaced; the batch keeps its size, and only groups that could not be replaced have zero std."""
    cfg = make_cfg(
        "reward=token_fraction",
        "algorithm.num_generations=2",
        "sampler.max_new_tokens=2",
        "train.batch_size=4",
        "train.dynamic_sampling_rounds=6",
    )
    trainer = Trainer(validate(cfg), cfg, tmp_path)
    stats = trainer.step(0)
    assert stats["sampling/groups_dropped"] > 0  # the random tiny model rarely says 'a'
    assert stats["sampling/groups_sampled"] > 4 and stats["sampling/extra_rounds"] >= 1
    kept_equal = stats["sampling/equal_groups_kept"]
    assert float(stats["reward/frac_zero_std"]) * 4 == kept_equal
