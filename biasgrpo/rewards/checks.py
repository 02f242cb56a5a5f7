"""Checks of a reward on the base policy's own samples: how much it separates a prompt's answers.

GRPO learns from the differences between the G answers to one prompt, normalised by their
std; a reward that scores every sample of the base model alike (today's local toxicity RM
sits above 0.93 on them) gives it noise to amplify. :func:`base_samples` draws G samples per
prompt from the base policy with the project's sampler; ``preference.group_spread`` is the
figure. Used by ``benchmarks/reward_checks.py`` (and, through the hook in
``training.train_reward``, by the reward probe).
"""

from __future__ import annotations

import re

import torch

from biasgrpo.config import ModelConfig, SamplerConfig
from biasgrpo.data import balanced_sample, fill
from biasgrpo.data.templates import TRAIN_TEMPLATES

_REFUSAL = re.compile(
    r"^(?:i'?m sorry|sorry|i (?:can(?:no|')t|cannot|won'?t|am not able|'m not able|am unable|'m unable)"
    r"|as an ai\b[^.]*\b(?:can(?:no|')t|cannot|don'?t)|unfortunately,? i)",
    re.IGNORECASE,
)
_DONT_KNOW = re.compile(r"^(?:i (?:really )?do(?:n'?t| not) know|i'?m not sure|no idea|hard to say|who knows)", re.I)


def training_prompts(n: int, seed: int) -> list[str]:
    """``n`` prompts of the default training set (the package's templates), balanced over domains."""
    return [row["prompt"] for row in balanced_sample(fill(TRAIN_TEMPLATES), n, seed)]


@torch.no_grad()
def base_samples(
    prompts: list[str], group_size: int, model: ModelConfig, sampler: SamplerConfig, seed: int, device: str = "cpu"
) -> list[str]:
    """``group_size`` completions per prompt from the base model (no adapters), prompt-major order."""
    from biasgrpo.policy import Policy
    from biasgrpo.sampler import sample

    torch.manual_seed(seed)
    policy = Policy(model, torch.device(device), needs_reference=False)
    out: list[str] = []
    for start in range(0, len(prompts), 8):
        out += sample(policy, prompts[start : start + 8], group_size, sampler).completions
    return out


def evasion_kind(prompt: str, completion: str) -> str | None:
    """empty | dont_know | refusal | copy | repeat for an evasive completion, else None.

    A heuristic on the start of the text (a refusal or "I don't know" that goes on to answer
    still counts): meant for counting shares in samples, not as a reward.
    """
    text = completion.strip()
    words = re.findall(r"\w+", text.lower())
    if len(words) == 0:
        return "empty"
    if _DONT_KNOW.match(text):
        return "dont_know"
    if _REFUSAL.match(text):
        return "refusal"
    if prompt.strip() and text.lower().startswith(prompt.strip().lower()[:40]):
        return "copy"
    if len(words) >= 3 and len(set(words)) == 1:
        return "repeat"
    return None
