"""Checkpoints: one self-describing file per save, written atomically.

A checkpoint holds the trainable weights (LoRA adapters, or all weights), optimizer,
scheduler, every RNG state, the step and the resolved config. It is written under a
temporary name and renamed, so a kill mid-write never leaves a half file under the
real name; a file that still fails to load is reported and the previous one is used.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biasgrpo.errors import ConfigError

CKPT_DIR = "checkpoints"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    folder = run_dir / CKPT_DIR
    return sorted(folder.glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1])) if folder.exists() else []


def save(run_dir: Path, step: int, bundle: dict[str, Any], keep: int) -> Path:
    folder = run_dir / CKPT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:07d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    torch.save({"step": step, "rng": rng_state(), **bundle}, tmp)
    os.replace(tmp, path)
    for old in checkpoint_paths(run_dir)[:-keep]:
        old.unlink()
    return path


def load_latest(run_dir: Path) -> dict[str, Any] | None:
    """The newest checkpoint that loads; corrupt ones are reported and skipped."""
    for path in reversed(checkpoint_paths(run_dir)):
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:
            print(f"[biasgrpo] checkpoint {path} is unreadable ({err}); trying the previous one")
    return None


def load_weights(path: Path) -> dict[str, Any]:
    """A checkpoint to evaluate: the newest of run directory ``path``, or the checkpoint file ``path``.

    Returns the saved bundle (``weights``, ``config``, ``step``, ...); raises ConfigError when
    there is none, so ``task=evaluate eval.checkpoint=...`` stops before any model loads.
    """
    state = torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else load_latest(path)
    if state is None:
        raise ConfigError(
            f"eval.checkpoint={str(path)!r} holds no readable checkpoint under {CKPT_DIR}/; "
            "pass a training run directory (outputs/train/...) or one of its step_*.pt files"
        )
    return state
