"""Checkpoints: one self-describing file per save, written atomically, read without running code.

A checkpoint holds the trainable weights (LoRA adapters, or all weights), optimizer,
scheduler, every RNG state, the step and the resolved config. It is written under a
temporary name and renamed, so a kill mid-write never leaves a half file under the
real name; a file that still fails to load is reported and the previous one is used.

Safety: a checkpoint may come from someone else (``resume=``, ``eval.checkpoint=``), and a
pickle can run any code while it loads. So a checkpoint holds only tensors and plain
containers (dict, list, tuple, str, int, float, bool, None): the config as YAML text, the
RNG states as tensors and lists. It is read with ``torch.load(weights_only=True)``, whose
unpickler builds nothing else; a file that asks for anything else is refused with a
CheckpointError and nothing in it runs. ``save`` checks the bundle first, so what it
writes always loads.
"""

from __future__ import annotations

import os
import pickle
import random
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from biasgrpo.errors import CheckpointError, ConfigError

CKPT_DIR = "checkpoints"

# What weights_only=True rebuilds without an allow-list (torch.load's documentation), minus
# what we never write. Anything else in a bundle is a bug in the caller, reported by save().
_PLAIN = (str, int, float, bool, bytes, type(None), torch.Tensor)


def rng_state() -> dict[str, Any]:
    """Every RNG state as tensors and plain containers (numpy's key array becomes an int64 tensor)."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),  # (version, tuple of 625 ints, None or float): plain
        "numpy": {
            "name": str(name),
            "key": torch.from_numpy(key.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned (after a weights-only load: tuples may come back as lists)."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    n = state["numpy"]
    np.random.set_state((n["name"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def config_text(cfg: DictConfig) -> str:
    """The run's config as YAML text (interpolations kept), the form a checkpoint stores it in."""
    return OmegaConf.to_yaml(cfg)


def config_of(state: dict[str, Any]) -> DictConfig:
    """The config a loaded checkpoint was trained with, back as a DictConfig."""
    cfg = OmegaConf.create(state["config"])
    assert isinstance(cfg, DictConfig)
    return cfg


def to_plain(obj: Any, where: str = "bundle") -> Any:
    """``obj`` as tensors and plain containers (what weights_only loads): numpy scalars become Python
    numbers, numpy arrays tensors; anything else raises TypeError naming where it sits."""
    if isinstance(obj, np.generic):  # before _PLAIN: np.float64 is a float subclass, pickled as numpy's
        return obj.item()
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint {where}: key {key!r} is a {type(key).__name__}, not str or int")
        items = ((key, to_plain(value, f"{where}[{key!r}]")) for key, value in obj.items())
        return OrderedDict(items) if isinstance(obj, OrderedDict) else dict(items)
    if isinstance(obj, (list, tuple)):
        values = [to_plain(value, f"{where}[{i}]") for i, value in enumerate(obj)]
        return values if isinstance(obj, list) else tuple(values)
    raise TypeError(
        f"checkpoint {where} is a {type(obj).__name__}; a checkpoint holds only tensors and plain containers "
        "(convert it first: a config to YAML text with checkpoint.config_text)"
    )


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    folder = run_dir / CKPT_DIR
    return sorted(folder.glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1])) if folder.exists() else []


def save(run_dir: Path, step: int, bundle: dict[str, Any], keep: int) -> Path:
    folder = run_dir / CKPT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:07d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    state = to_plain({"step": step, "rng": rng_state(), **bundle})
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in checkpoint_paths(run_dir)[:-keep]:
        old.unlink()
    return path


def load(path: Path) -> dict[str, Any]:
    """One checkpoint file, read with ``weights_only=True``.

    Raises CheckpointError when the file asks the unpickler for anything but tensors and plain
    containers (a pickled object, a function to call: tampering, or a checkpoint written before
    checkpoints held plain data); nothing in the file runs. Other failures (a truncated file)
    propagate as they are, so ``load_latest`` can skip a corrupt file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err)) or re.search(r"[Uu]nsupported[^:]*: (\S+)", str(err))
        what = f"`{found.group(1)}`" if found else "something other than tensors and plain containers"
        raise CheckpointError(
            f"checkpoint {path} was refused: it asks to load {what}, and loading it could run arbitrary code. "
            "BiasGRPO checkpoints hold only tensors and plain containers and are read with "
            "torch.load(weights_only=True). Use a checkpoint written by this version of BiasGRPO "
            "(resume= / eval.checkpoint=); a file from before this format must be re-created by training again"
        ) from None
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"checkpoint {path} is not a BiasGRPO checkpoint (no step); pass a step_*.pt file")
    return state


def load_latest(run_dir: Path) -> dict[str, Any] | None:
    """The newest checkpoint that loads; corrupt ones are reported and skipped, unsafe ones refused."""
    for path in reversed(checkpoint_paths(run_dir)):
        try:
            return load(path)
        except CheckpointError:
            raise
        except Exception as err:
            print(f"[biasgrpo] checkpoint {path} is unreadable ({err}); trying the previous one")
    return None


def load_weights(path: Path, key: str = "eval.checkpoint") -> dict[str, Any]:
    """A checkpoint to evaluate: the newest of run directory ``path``, or the checkpoint file ``path``.

    Returns the saved bundle (``weights``, ``config``, ``step``, ...); raises ConfigError when
    there is none (naming config ``key``), so ``task=evaluate eval.checkpoint=...`` stops before any model loads.
    """
    state = load(path) if path.is_file() else load_latest(path)
    if state is None:
        raise ConfigError(
            f"{key}={str(path)!r} holds no readable checkpoint under {CKPT_DIR}/; "
            "pass a training run directory (outputs/train/...) or one of its step_*.pt files"
        )
    return state
