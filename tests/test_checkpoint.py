"""Checkpoints hold only plain data and are read with weights_only=True: a malicious one never runs."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from biasgrpo import checkpoint
from biasgrpo.errors import CheckpointError
from run import dispatch


def _write_marker(path: str) -> None:
    """What the payload calls while it is unpickled: proof that code in the file ran."""
    Path(path).write_text("the checkpoint ran code")


class Payload:
    """Pickles as "call _write_marker(path)": any unpickler that rebuilds objects runs it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (_write_marker, (str(self.marker),))


def malicious_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run dir whose only checkpoint looks like ours but carries the payload; returns (run dir, marker)."""
    run_dir, marker = tmp_path / "run", tmp_path / "marker.txt"
    (run_dir / checkpoint.CKPT_DIR).mkdir(parents=True)
    bundle = {"step": 2, "weights": {"w": torch.zeros(2)}, "config": "model: {name: tiny}\n", "x": Payload(marker)}
    torch.save(bundle, run_dir / checkpoint.CKPT_DIR / "step_0000002.pt")
    return run_dir, marker


def test_the_payload_runs_under_an_unsafe_load(tmp_path: Path) -> None:
    """The old loading code (weights_only=False) runs the file's code: the tests below test something real."""
    run_dir, marker = malicious_run(tmp_path)
    torch.load(checkpoint.checkpoint_paths(run_dir)[-1], map_location="cpu", weights_only=False)
    assert marker.read_text() == "the checkpoint ran code"


def test_malicious_checkpoint_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    run_dir, marker = malicious_run(tmp_path)
    path = checkpoint.checkpoint_paths(run_dir)[-1]
    with pytest.raises(CheckpointError, match=r"refused.*_write_marker.*arbitrary code"):
        checkpoint.load_latest(run_dir)  # resume=
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load_weights(path)  # eval.checkpoint=<file>
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load_weights(run_dir)  # eval.checkpoint=<run dir>
    assert not marker.exists()


def test_resume_and_evaluate_refuse_a_malicious_checkpoint(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    run_dir, marker = malicious_run(tmp_path)
    with pytest.raises(CheckpointError, match="refused"):
        dispatch(make_cfg(f"resume={run_dir}"), run_dir)
    with pytest.raises(CheckpointError, match="refused"):
        dispatch(make_cfg("task=evaluate", "benchmark=[heldout]", f"eval.checkpoint={run_dir}"), tmp_path / "ev")
    assert not marker.exists()


def test_rng_states_survive_a_weights_only_round_trip(tmp_path: Path) -> None:
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.normal()  # numpy's cached Gaussian is part of its state
    checkpoint.save(tmp_path, 1, {}, keep=1)
    expected = (random.random(), np.random.normal(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    state = checkpoint.load_latest(tmp_path)
    assert state is not None
    checkpoint.set_rng_state(state["rng"])
    assert (random.random(), np.random.normal(), torch.rand(1).item()) == expected


def test_save_writes_plain_data_only(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"model": {"name": "tiny"}, "seed": 7})
    with pytest.raises(TypeError, match=r"bundle\['config'\] is a DictConfig"):
        checkpoint.save(tmp_path, 1, {"config": cfg}, keep=1)
    checkpoint.save(tmp_path, 1, {"config": checkpoint.config_text(cfg), "best": {"a": np.float64(0.5)}}, keep=1)
    state = checkpoint.load_latest(tmp_path)
    assert state is not None and state["best"] == {"a": 0.5} and type(state["best"]["a"]) is float
    assert checkpoint.config_of(state) == cfg


def test_trained_checkpoint_loads_weights_only(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    dispatch(make_cfg("train.max_steps=2", "train.save_every=2"), tmp_path)
    path = checkpoint.checkpoint_paths(tmp_path)[-1]
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["step"] == 2 and isinstance(state["config"], str)
    assert checkpoint.config_of(state).model.name == "tiny"
    assert state["weights"] and all(isinstance(v, torch.Tensor) for v in state["weights"].values())
