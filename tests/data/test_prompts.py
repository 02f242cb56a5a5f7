"""The generated prompt set: size, domains, split and determinism."""

from __future__ import annotations

from biasgrpo.config import DatasetConfig
from biasgrpo.data import balanced_sample, fill, load_prompts
from biasgrpo.data.templates import EVAL_TEMPLATES, GROUPS, TRAIN_TEMPLATES


def test_every_group_and_template_is_filled() -> None:
    rows = fill(TRAIN_TEMPLATES)
    n_groups = sum(len(g) for g in GROUPS.values())
    assert len(rows) == n_groups * len(TRAIN_TEMPLATES)
    assert len(GROUPS) == 11
    assert all("{" not in r["prompt"] for r in rows)
    assert {r["form"] for r in rows} == {"question", "continuation", "description", "advice", "situation"}


def test_eval_prompts_are_held_out_and_balanced() -> None:
    prompts = load_prompts(DatasetConfig(name="t", eval_prompts=22), seed=0)
    assert len(prompts.eval) == 22
    assert not {r["prompt"] for r in prompts.train} & {r["prompt"] for r in prompts.eval}
    domains = [r["domain"] for r in prompts.eval]
    assert all(domains.count(d) == 2 for d in GROUPS)  # 22 rows round-robin over 11 domains


def test_sampling_is_deterministic_per_seed() -> None:
    rows = fill(EVAL_TEMPLATES)
    assert balanced_sample(rows, 30, seed=1) == balanced_sample(rows, 30, seed=1)
    assert balanced_sample(rows, 30, seed=1) != balanced_sample(rows, 30, seed=2)


def test_max_prompts_limits_training_set() -> None:
    assert len(load_prompts(DatasetConfig(name="t", max_prompts=50), seed=0).train) == 50
