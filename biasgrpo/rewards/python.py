"""A reward written as a plain Python function, TRL style: ``reward=python reward.target=pkg.module:fn``.

The function takes TRL's reward-function signature and returns one float per completion::

    def my_reward(prompts: list[str], completions: list[str], **kwargs) -> list[float]: ...

It is called as ``fn(prompts=..., completions=..., **reward.kwargs)``, with the prompts as the
policy saw them (chat template applied) and the completions as decoded text (TRL's "standard"
format, not the conversational one). Extras for the function go in ``reward.kwargs``. The
target is resolved with Hydra's ``get_object`` and accepts ``pkg.module:fn`` or
``pkg.module.fn``; its module must be importable (installed, or on ``PYTHONPATH``).
The function runs in this process with this process's rights: name only code you trust.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import Any

import torch
from hydra.utils import get_object

from biasgrpo.errors import ConfigError, RewardError


def resolve(target: str, name: str = "python") -> Callable[..., Any]:
    """The function ``target`` names (``pkg.module:fn`` or ``pkg.module.fn``), or a ConfigError saying why not."""
    path = target.strip().replace(":", ".")
    if not path or ".." in path or path.startswith(".") or path.endswith("."):
        raise ConfigError(
            f"reward {name!r}: target={target!r} is not a function path; pass reward.target=pkg.module:fn"
        )
    try:
        fn = get_object(path)
    except Exception as err:
        why = " ".join(str(err).split()) or repr(err)
        raise ConfigError(
            f"reward {name!r}: reward.target={target!r} does not import ({why}); make its module importable "
            "(pip install it, or PYTHONPATH=<folder holding the package>) and name it as pkg.module:fn"
        ) from err
    if inspect.isclass(fn) or not callable(fn):
        raise ConfigError(
            f"reward {name!r}: reward.target={target!r} is a {type(fn).__name__}, not a function; point it at "
            "a function fn(prompts, completions, **kwargs) -> list[float]"
        )
    return fn


class PythonReward:
    """Scores with a user function of TRL's signature; its output is checked and made a float tensor."""

    def __init__(self, name: str, target: str, kwargs: dict[str, Any] | None = None) -> None:
        self.name = name
        self.target = target
        self.fn = resolve(target, name)
        self.kwargs = dict(kwargs or {})

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        out = self.fn(prompts=prompts, completions=completions, **self.kwargs)
        return to_scores(out, len(completions), f"reward {self.name!r} ({self.target})")

    def __repr__(self) -> str:
        return f"PythonReward({self.name!r}, {self.target!r})"


def to_scores(out: object, n: int, who: str) -> torch.Tensor:
    """``out`` (list, tuple, numpy array or tensor of n numbers) as a float32 ``[n]`` tensor, or RewardError."""
    if isinstance(out, torch.Tensor):
        values: list[Any] = out.detach().cpu().flatten().tolist() if out.dim() <= 1 else [out]
    elif hasattr(out, "tolist") and not isinstance(out, (str, bytes)):  # numpy arrays
        values = out.tolist()  # type: ignore[union-attr]
    elif isinstance(out, (list, tuple)):
        values = list(out)
    else:
        raise RewardError(f"{who} returned a {type(out).__name__}; return a list of {n} floats, one per completion")
    if len(values) != n:
        raise RewardError(f"{who} returned {len(values)} scores for {n} completions; return one float per completion")
    for i, v in enumerate(values):  # NaN/inf pass: check_scores reports them, as for any reward
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise RewardError(f"{who} returned {v!r} ({type(v).__name__}) for completion {i}; return a float")
    return torch.tensor([float(v) for v in values], dtype=torch.float32)
