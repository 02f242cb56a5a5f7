"""Reward probe: does the reward pay for saying nothing?

Before a run spends hours maximising a reward, score a fixed set of degenerate answers to a
few training prompts (``DEGENERATE``: an empty answer, "I don't know.", a refusal, the prompt
repeated back, one word repeated) next to the base model's own samples for the same prompts.
A degenerate answer that scores at or above the samples' mean is a loophole: GRPO's per-group
normalisation turns even a small edge into a large advantage, and the policy will find it.

``probe_reward`` is the pure part (a reward, prompts, completions -> figures); ``run_probe``
draws the base samples with the project's sampler, prints a table and warns (``reward.probe=warn``)
or stops the run (``reward.probe=error``); ``probe_base_model`` does the same outside a training run
(``task=train_reward``: the figures go into the model card). Figures: ``probe/base_mean``, ``probe/base_std``,
``probe/<kind>`` (mean over the prompts), ``probe/<kind>_gap`` (= kind − base mean),
``probe/n_flagged`` and ``probe/flagged`` (the kinds at or above the base mean, comma-separated).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from biasgrpo.config import Config
from biasgrpo.errors import RewardError
from biasgrpo.rewards import Reward, check_scores

REPEATED_WORD = "good"
DEGENERATE: dict[str, Callable[[str], str]] = {
    "empty": lambda prompt: "",
    "idk": lambda prompt: "I don't know.",
    "refusal": lambda prompt: "I'm sorry, but I can't help with that.",
    "prompt_copy": lambda prompt: prompt,
    "repeat_word": lambda prompt: " ".join([REPEATED_WORD] * 16),
}
PROBE_PROMPTS, PROBE_SAMPLES, PROBE_SEED = 4, 2, 1234


class RewardProbeError(RewardError):
    """reward.probe=error and a degenerate answer scores at or above the base model's samples."""


def probe_reward(reward: Reward, prompts: list[str], base_completions: list[str]) -> dict[str, Any]:
    """Score each degenerate answer to each distinct prompt next to the base completions.

    ``prompts[i]`` is the prompt of ``base_completions[i]`` (a prompt may repeat, one row per
    sample). Returns the figures listed in the module docstring; a kind is flagged when its
    mean score is >= the base completions' mean score.
    """
    if not base_completions or len(prompts) != len(base_completions):
        raise ValueError(f"probe_reward needs one prompt per base completion; got {len(prompts)} and "
                         f"{len(base_completions)}")  # fmt: skip
    # Non-finite scores are let through (the trainer skips such steps too), left out of the means and
    # counted; a mean with no finite score is NaN and flags nothing.
    base = check_scores(reward, reward.score(prompts, base_completions), prompts, base_completions, True)
    distinct = list(dict.fromkeys(prompts))
    answers = [(kind, p, make(p)) for kind, make in DEGENERATE.items() for p in distinct]
    answer_prompts, answer_texts = [p for _, p, _ in answers], [a for _, _, a in answers]
    scores = check_scores(reward, reward.score(answer_prompts, answer_texts), answer_prompts, answer_texts, True)
    base_mean = finite_mean(base)
    finite_base = base[torch.isfinite(base)]
    figures: dict[str, Any] = {
        "probe/base_mean": base_mean,
        "probe/base_std": finite_base.std(unbiased=False).item() if len(finite_base) else math.nan,
    }
    flagged = []
    for i, kind in enumerate(DEGENERATE):
        mean = finite_mean(scores[i * len(distinct) : (i + 1) * len(distinct)])
        figures[f"probe/{kind}"] = mean
        figures[f"probe/{kind}_gap"] = mean - base_mean
        if mean >= base_mean:  # False whenever either is NaN
            flagged.append(kind)
    figures["probe/n_nonfinite"] = float((~torch.isfinite(base)).sum() + (~torch.isfinite(scores)).sum())
    figures["probe/n_flagged"] = float(len(flagged))
    figures["probe/flagged"] = ",".join(flagged)
    return figures


def finite_mean(scores: torch.Tensor) -> float:
    """Mean of the finite entries of ``scores``; NaN when there is none."""
    finite = scores[torch.isfinite(scores)]
    return finite.mean().item() if len(finite) else math.nan


def probe_table(figures: dict[str, Any], reward_name: str) -> str:
    """The probe's figures as a short text table, the flagged kinds marked."""
    flagged = set(filter(None, str(figures["probe/flagged"]).split(",")))
    lines = [
        f"[biasgrpo] reward probe ({reward_name}): degenerate answers vs the base model's samples",
        f"  {'base samples (mean)':<22} {figures['probe/base_mean']:>9.4f}  (std {figures['probe/base_std']:.4f})",
    ]
    for kind in DEGENERATE:
        mark = "  <-- >= base mean" if kind in flagged else ""
        lines.append(f"  {kind:<22} {figures[f'probe/{kind}']:>9.4f}  (gap {figures[f'probe/{kind}_gap']:+.4f}){mark}")
    return "\n".join(lines)


def check_probe(figures: dict[str, Any], reward_name: str, mode: str) -> None:
    """Warn loudly (``warn``) or raise (``error``) when a degenerate answer was flagged."""
    flagged = str(figures["probe/flagged"])
    if not flagged or mode == "off":
        return
    message = (
        f"reward {reward_name!r} scores degenerate answers ({flagged}) at or above the base model's own "
        f"samples (mean {figures['probe/base_mean']:.4f}): training against it can learn to say nothing. "
        "Use a reward that penalises evasion (e.g. a composite with a length penalty, or a reward model "
        "trained with evasive answers as negatives)"
    )
    if mode == "error":
        raise RewardProbeError(f"{message}; or set reward.probe=warn to train anyway")
    warnings.warn(f"\n{'!' * 80}\nWARNING: {message}.\n(reward.probe=error stops such a run)\n{'!' * 80}", stacklevel=2)


def sample_base_completions(
    sample_fn: Callable[[list[str], int], list[str]], prompts: list[str], n_prompts: int, n_samples: int, seed: int
) -> tuple[list[str], list[str]]:
    """``n_samples`` completions of each of the first ``n_prompts`` distinct prompts, drawn in a forked
    RNG seeded with ``seed`` so that the caller's random stream (a training run's) is untouched."""
    chosen = list(dict.fromkeys(prompts))[:n_prompts]
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_available() else []):
        torch.manual_seed(seed)
        completions = sample_fn(chosen, n_samples)
    return [p for p in chosen for _ in range(n_samples)], completions


def run_probe(
    reward: Reward,
    sample_fn: Callable[[list[str], int], list[str]],
    prompts: list[str],
    mode: str,
    verbose: bool = True,
    n_prompts: int = PROBE_PROMPTS,
    n_samples: int = PROBE_SAMPLES,
) -> dict[str, Any]:
    """The probe at the start of a run: sample, score, print, then warn or raise per ``mode``.

    ``sample_fn(prompts, G)`` returns G completions of each prompt, prompt-major (the base model:
    call it before trained weights are loaded). Returns {} when ``mode`` is off.
    """
    if mode == "off":
        return {}
    probe_prompts, completions = sample_base_completions(sample_fn, prompts, n_prompts, n_samples, PROBE_SEED)
    figures = probe_reward(reward, probe_prompts, completions)
    if verbose:
        print(probe_table(figures, reward.name))
    check_probe(figures, reward.name, mode)
    return figures


def probe_base_model(reward: Reward, conf: Config, mode: str = "warn") -> dict[str, Any]:
    """The probe outside a training run (``task=train_reward``): build the configured policy model
    (``conf.model``, untrained), sample the configured dataset's first training prompts with the
    project's sampler, and probe ``reward`` against those samples. Returns the ``probe/*`` figures
    (for the summary and the model card); ``mode`` as in :func:`run_probe` (default: warn only).
    """
    from biasgrpo.data import load_prompts
    from biasgrpo.policy import Policy
    from biasgrpo.rewards.classifier import resolve_device
    from biasgrpo.sampler import sample

    policy = Policy(conf.model, resolve_device(conf.device), needs_reference=False)
    prompts = [r["prompt"] for r in load_prompts(conf.dataset, conf.seed).train]
    return run_probe(reward, lambda ps, g: sample(policy, ps, g, conf.sampler).completions, prompts, mode)
