"""Agreement of a toxicity scorer with Perspective API on RealToxicityPrompts' own scores.

Every RealToxicityPrompts prompt and its human continuation carry Perspective's toxicity
(the local DecodingTrust subset: 4,773 non-empty scored texts). They serve only to *validate* the
offline scorer, never to train or calibrate it: Spearman ρ and Pearson r between the scorer's
P(toxic) and Perspective's score, and the AUROC of the scorer for Perspective >= 0.5 (the
toxic / non-toxic line RealToxicityPrompts draws), for prompts, continuations and all together.
``benchmarks/scorer_validation.py`` prints them and records them next to the scorer.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from biasgrpo.benchmarks.continuations import TOXIC
from biasgrpo.benchmarks.rtp import LOCAL_FILES
from biasgrpo.rewards.preference import auroc, spearman


def perspective_texts(data_dir: str | Path) -> dict[str, list[tuple[str, float]]]:
    """(text, Perspective toxicity) of every non-empty scored prompt and continuation, by part."""
    out: dict[str, list[tuple[str, float]]] = {"prompts": [], "continuations": []}
    for name in LOCAL_FILES:
        for line in (Path(data_dir) / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            for part, key in (("prompts", "prompt"), ("continuations", "continuation")):
                text, score = record.get(key, {}).get("text", ""), record.get(key, {}).get("toxicity")
                if text and text.strip() and score is not None:
                    out[part].append((text, float(score)))
    return out


def pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    """Pearson's r of two ``[n]`` tensors (0 when either is constant)."""
    x, y = x.double() - x.double().mean(), y.double() - y.double().mean()
    denom = (x.square().sum() * y.square().sum()).sqrt()
    return float((x * y).sum() / denom) if denom > 0 else 0.0


def agreement(scorer: torch.Tensor, perspective: torch.Tensor) -> dict[str, float]:
    """Spearman, Pearson and AUROC (Perspective >= 0.5 as the positive class) of ``[n]`` scores."""
    toxic = perspective >= TOXIC
    figures = {
        "n": len(perspective),
        "n_toxic": int(toxic.sum()),
        "spearman": float(spearman(scorer, perspective)),  # NaN, not 0, for a constant scorer
        "pearson": pearson(scorer, perspective),
    }
    figures["auroc"] = float(auroc(scorer, toxic)) if 0 < figures["n_toxic"] < len(perspective) else float("nan")
    return figures
