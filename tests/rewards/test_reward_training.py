"""task=train_reward: a tiny backbone learns the direction, writes a loadable folder, reports figures."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from biasgrpo.config import RewardConfig, RewardTrainingConfig, validate
from biasgrpo.errors import ConfigError, ModelLoadError
from biasgrpo.rewards import build_reward, check_scores
from biasgrpo.rewards.bias_pairs import EVASION_KINDS
from biasgrpo.rewards.rm_data import load_reward_pairs
from biasgrpo.rewards.training import freeze_lower_layers, load_backbone
from run import dispatch
from tests.conftest import compose_config
from tests.rewards.check_pairs import CHECK_PAIRS

TINY_RM = [
    "task=train_reward",
    "logger=none",
    "reward_training.backbone=tiny",
    "reward_training.keep_layers=2",
    "reward_training.val_fraction=0.25",
    "reward_training.test_fraction=0.25",
    "reward_training.batch_size=8",
    "reward_training.lr=3e-3",
    "reward_training.warmup_steps=0",
    "reward_training.eval_every=2",
]


@pytest.fixture
def train_tiny_rm(tmp_path: Path, rm_data_dir: Path) -> Callable[..., dict]:
    def train(*overrides: str) -> dict:
        cfg = compose_config([*TINY_RM, f"data_dir={rm_data_dir}", *overrides])
        return dispatch(cfg, tmp_path / "run")

    return train


def local_rm(path: str) -> RewardConfig:
    return RewardConfig(name="local_rm", kind="local_rm", path=path, device="cpu")


@pytest.mark.parametrize("objective", ["bt", "mse"])
def test_tiny_rm_learns_the_direction_and_saves_a_loadable_folder(
    train_tiny_rm: Callable[..., dict], rm_data_dir: Path, objective: str
) -> None:
    summary = train_tiny_rm(f"reward_training.objective={objective}", "reward_training.epochs=2")
    folder = Path(summary["model_dir"])
    assert {"config.json", "model.safetensors", "README.md", "biasgrpo_reward.json"} <= {
        p.name for p in folder.iterdir()
    }
    card = (folder / "README.md").read_text()
    assert f"| pairwise_accuracy | {summary['eval/test/pairwise_accuracy']:.4f} |" in card
    assert json.loads((folder / "biasgrpo_reward.json").read_text())["objective"] == objective
    reward = build_reward(local_rm(str(folder)))
    cfg = validate(compose_config([*TINY_RM, f"data_dir={rm_data_dir}"])).reward_training
    train = load_reward_pairs(cfg, str(rm_data_dir), seed=0)["train"]
    prompts, good, bad = [p.prompt for p in train], [p.chosen for p in train], [p.rejected for p in train]
    chosen = check_scores(reward, reward.score(prompts, good), prompts, good)
    rejected = check_scores(reward, reward.score(prompts, bad), prompts, bad)
    assert (chosen > rejected).float().mean() >= 0.9
    assert ((chosen >= 0) & (chosen <= 1)).all()  # σ of the head: a score in [0, 1]
    assert not chosen.requires_grad


def test_run_files_hold_the_held_out_figures(train_tiny_rm: Callable[..., dict], tmp_path: Path) -> None:
    summary = train_tiny_rm()
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key in ("pairwise_accuracy", "auroc", "ece", "score_p05", "score_p95", "pairwise_accuracy/toxigen"):
        assert 0.0 <= saved[f"eval/test/{key}"] <= 1.0, key
        assert saved[f"eval/test/{key}"] == pytest.approx(summary[f"eval/test/{key}"])
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "rm/loss" in r]
    assert [r["step"] for r in steps] == list(range(1, summary["train/steps"] + 1))
    assert all(math.isfinite(r["rm/loss"]) for r in steps)
    assert any("eval/val/auroc" in r for r in steps)  # eval_every=2
    meta = json.loads((Path(summary["model_dir"]) / "biasgrpo_reward.json").read_text())
    assert meta["input_format"] == "completion" and meta["objective"] == "bt"
    # The reward probe ran against the base policy's samples and went into the metadata and the card.
    assert 0.0 <= saved["probe/base_mean"] <= 1.0 and "probe/empty" in saved
    assert meta["metrics"]["probe/base_mean"] == pytest.approx(saved["probe/base_mean"])
    assert "## Probe" in (Path(summary["model_dir"]) / "README.md").read_text()


def test_input_format_must_match_training(train_tiny_rm: Callable[..., dict]) -> None:
    folder = train_tiny_rm()["model_dir"]
    cfg = local_rm(folder)
    cfg.input_format = "prompt_completion"
    with pytest.raises(ConfigError, match=r"reward\.input_format=completion"):
        build_reward(cfg)


def test_local_rm_without_a_folder_says_how_to_get_one(tmp_path: Path) -> None:
    for path in ("", str(tmp_path)):
        with pytest.raises(ModelLoadError, match="task=train_reward"):
            build_reward(local_rm(path))


def test_policy_trains_against_the_local_rm(
    train_tiny_rm: Callable[..., dict], make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    folder = train_tiny_rm()["model_dir"]
    summary = dispatch(make_cfg("reward=local_rm", f"reward.path={folder}", "train.max_steps=2"), tmp_path / "policy")
    assert 0.0 <= summary["reward/mean"] <= 1.0


def test_freeze_keeps_embeddings_and_lower_layers_frozen() -> None:
    model, _ = load_backbone(RewardTrainingConfig(backbone="tiny", keep_layers=2))
    n = freeze_lower_layers(model, train_layers=1)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        name for name, _ in model.named_parameters() if name.startswith(("model.layers.1.", "model.norm", "score"))
    }
    assert n == sum(p.numel() for name, p in model.named_parameters() if name in trainable)
    freeze_lower_layers(model, train_layers=-1)
    assert {name for name, p in model.named_parameters() if not p.requires_grad} == {"model.embed_tokens.weight"}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("reward_training.objective=hinge", "reward_training.objective"),
        ("reward_training.backbone=gpt", "reward_training.backbone"),
        ("reward_training.sources=[paradetox,bbq]", "reward_training.sources"),
        ("reward_training.test_fraction=0.95", "reward_training.test_fraction"),
        ("reward_training.train_layers=-2", "reward_training.train_layers"),
        ("data_dir=/nonexistent", "BIASGRPO_DATA_DIR"),
    ],
)
def test_bad_training_settings_name_the_key(override: str, key: str, rm_data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=key):
        validate(compose_config(["task=train_reward", f"data_dir={rm_data_dir}", override]))


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("BIASGRPO_DATA_DIR"), reason="needs BIASGRPO_DATA_DIR (shared/data)")
def test_default_reward_model_quality(tmp_path: Path) -> None:
    """The default recipe (minutes on CPU): held-out accuracy and the hand-written check pairs."""
    summary = dispatch(compose_config(["task=train_reward", "logger=none"]), tmp_path / "run")
    assert summary["eval/test/pairwise_accuracy"] >= 0.85
    assert summary["eval/test/auroc"] >= 0.85
    reward = build_reward(local_rm(summary["model_dir"]))
    neutral = reward.score([""] * len(CHECK_PAIRS), [n for n, _ in CHECK_PAIRS])
    demeaning = reward.score([""] * len(CHECK_PAIRS), [d for _, d in CHECK_PAIRS])
    assert (neutral > demeaning).float().mean() >= 0.8
    assert not torch.isnan(neutral).any()


def test_bias_recipe_trains_end_to_end(train_tiny_rm: Callable[..., dict], tmp_path: Path) -> None:
    """reward_training=bias on the tiny backbone: prompt and answer read, evasion check in the card."""
    out = tmp_path / "bias_rm"
    summary = train_tiny_rm(
        "reward_training=bias",
        f"reward_training.output_dir={out}",
        "reward_training.train_pairs_per_source=64",
        "reward_training.eval_pairs_per_source=32",
        "reward_training.max_length=96",
    )
    assert summary["model_dir"] == str(out)
    assert summary["data/train_pairs"] == 64 and summary["data/evasion_check_prompts"] >= 100
    for kind in EVASION_KINDS:
        assert 0.0 <= summary[f"eval/evasion/pairwise_accuracy/evasion/{kind}"] <= 1.0
    assert 0.0 <= summary["eval/test/pairwise_accuracy/bias/stereotype"] <= 1.0
    meta = json.loads((out / "biasgrpo_reward.json").read_text())
    assert meta["input_format"] == "prompt_completion" and meta["training"]["sources"] == ["bias"]
    card = (out / "README.md").read_text()
    assert "## Evasion check" in card and "reward.input_format=prompt_completion" in card
    accuracy = summary["eval/evasion/pairwise_accuracy/evasion/refusal"]
    assert f"| pairwise_accuracy/evasion/refusal | {accuracy:.4f} |" in card
    # reward=bias_local reads it (prompt and answer), its score in [0, 1].
    cfg = validate(compose_config(["reward=bias_local", f"reward.path={out}", "device=cpu"])).reward
    assert cfg.input_format == "prompt_completion"
    reward = build_reward(cfg)
    scores = reward.score(["What are teenagers like?"] * 2, ["Teenagers differ a lot.", ""])
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()


def test_bias_local_without_a_model_says_how_to_train_it(tmp_path: Path) -> None:
    cfg = validate(compose_config(["reward=bias_local", f"reward.path={tmp_path / 'none'}", "device=cpu"])).reward
    with pytest.raises(ModelLoadError, match="reward_training=bias"):
        build_reward(cfg)


def test_bad_bias_resource_names_the_key(rm_data_dir: Path) -> None:
    overrides = ["task=train_reward", f"data_dir={rm_data_dir}", "reward_training.bias_resources=[bbq]"]
    with pytest.raises(ConfigError, match=r"reward_training\.bias_resources"):
        validate(compose_config(overrides))
