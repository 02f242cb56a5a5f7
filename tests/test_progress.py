"""Every long task shows a tqdm bar with its rate and time left: train_reward, make_dataset, evaluate, report."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from run import dispatch
from tests.conftest import compose_config
from tests.data.conftest import mini_data_dir  # noqa: F401  (fixture)
from tests.rewards.conftest import rm_data_dir  # noqa: F401  (fixture)
from tests.rewards.test_reward_training import TINY_RM

# A finished bar: "<desc>...| 4/4 [00:01<00:00, 3.52it/s]": count, elapsed<left, rate.
FINISHED = r"\| *(\d+)/\1 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+ ?(\w+/s|s/\w+)\]"


def finished_bar(err: str, desc: str) -> str:
    """The last state of the bar named ``desc`` in stderr, asserted to be a finished bar with rate and time left."""
    states = [s for s in re.split(r"[\r\n]", err) if s.startswith(desc)]
    assert states, f"no progress bar {desc!r} in stderr"
    assert re.search(FINISHED, states[-1]), states[-1]
    return states[-1]


def test_train_reward_shows_progress(
    rm_data_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dispatch(compose_config([*TINY_RM, f"data_dir={rm_data_dir}", "reward_training.epochs=1"]), tmp_path)
    finished_bar(capsys.readouterr().err, "train_reward")


def test_make_dataset_shows_progress(
    mini_data_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "set"
    dispatch(compose_config(["task=make_dataset", f"data_dir={mini_data_dir}", f"make_dataset.out_dir={out}"]), out)
    last = finished_bar(capsys.readouterr().err, "make_dataset")
    assert "stage" in last


def test_evaluate_and_report_show_progress(
    make_cfg: Callable[..., DictConfig],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dispatch(make_cfg("task=evaluate", "benchmark=[heldout]"), tmp_path / "runs" / "base")
    finished_bar(capsys.readouterr().err, "evaluate")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    dispatch(make_cfg("logger=wandb", "train.max_steps=1"), tmp_path / "runs" / "grpo")  # the config W&B keeps
    dispatch(make_cfg("task=report", f"report.runs={tmp_path / 'runs'}"), tmp_path / "report")
    finished_bar(capsys.readouterr().err, "report: read runs")
