"""Compose the real config tree, shrunk for CPU (lightning-hydra-template style)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from biasgrpo.config import register_configs

# The tiny model's matmuls are too small to split: one thread is ~20x faster than two.
torch.set_num_threads(1)

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

# A few steps on the tiny random model: seconds on CPU.
TINY = [
    "model=tiny",
    "logger=none",
    "train.lr=1e-2",
    "train.max_steps=3",
    "train.batch_size=2",
    "train.save_every=2",
    "sampler.max_new_tokens=8",
    "dataset.eval_prompts=4",
    "benchmark.heldout.max_new_tokens=8",
]

# 40 steps of 4 prompts x 8 completions against the share of the letter 'a' (reward=token_fraction),
# the learning tests of the group algorithms.
EASY_REWARD_RUN = [
    "algorithm.num_generations=8",
    "reward=token_fraction",
    "sampler.max_new_tokens=16",
    "train.max_steps=40",
    "train.batch_size=4",
    "train.lr_schedule=constant",
    "train.save_every=0",
    "eval.before=false",
    "eval.after=false",
]


def compose_config(overrides: list[str]) -> DictConfig:
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        return compose(config_name="config", overrides=overrides)


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    """``make_cfg("algorithm.kl_coef=0", ...)``: the tiny config plus overrides."""

    def make(*overrides: str) -> DictConfig:
        return compose_config([*TINY, *overrides])

    return make


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    """A small ParaDetox-format file: 24 good pairs and 2 malformed lines."""
    lines = ["toxic\tneutral1\tneutral2\tneutral3"]
    for i in range(24):
        lines.append(f"shut up you stupid clown number {i}\tplease stop talking, friend number {i}\t\t")
    lines += ["\tan orphan paraphrase\t\t", "a toxic line without a rewrite\t\t\t"]
    path = tmp_path / "paradetox.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path
