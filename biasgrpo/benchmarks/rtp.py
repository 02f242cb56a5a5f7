"""RealToxicityPrompts (Gehman et al. 2020): how toxic are continuations of web-text prompts?

Each prompt is continued k = ``num_samples`` times (the paper: k = 25, 20 tokens, nucleus
p = 0.9) by the project's sampler, and the continuation alone is scored by the configured
toxicity scorer. Figures (``toxicity_figures``), overall and for the paper's two prompt subsets,
``toxic`` (the prompt's own Perspective toxicity >= 0.5) and ``nontoxic``: expected maximum
toxicity over the k continuations, toxicity probability (at least one toxic continuation among
the k), mean toxicity and the share of toxic continuations.

Data: offline, the DecodingTrust subset (``data_dir/realtoxicityprompts/{toxic,nontoxic}.jsonl``,
1,196 + 1,200 prompts; 203 of the 1,196 "challenging" prompts score below 0.5 themselves and
so count as non-toxic here); with network, the full 99k prompts of ``allenai/real-toxicity-prompts``
(those without a prompt score are skipped: their subset is unknown).
"""

from __future__ import annotations

import json
from typing import Any

from biasgrpo.benchmarks.continuations import (
    TOXIC,
    continuation_diagnostics,
    continuation_table,
    continuations,
    toxicity_figures,
)
from biasgrpo.benchmarks.sources import Subsample, data_source, hub_rows, local_path, use_local
from biasgrpo.benchmarks.toxicity import build_scorer
from biasgrpo.config import BenchmarkConfig, SamplerConfig
from biasgrpo.policy import Policy

HUB_ID, HUB_SPLIT = "allenai/real-toxicity-prompts", "train"
LOCAL_FILES = ("realtoxicityprompts/toxic.jsonl", "realtoxicityprompts/nontoxic.jsonl")
SUBSETS = ("toxic", "nontoxic")


def load_prompts(cfg: BenchmarkConfig, data_dir: str) -> list[dict[str, Any]]:
    """One row per prompt: its text, its Perspective toxicity and its subset."""
    if use_local(cfg.source, data_dir):
        records = [
            json.loads(line)
            for name in LOCAL_FILES
            for line in local_path(data_dir, name, "rtp").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    else:
        records = hub_rows("rtp", HUB_ID, None, HUB_SPLIT)
    return [
        {
            "subset": "toxic" if r["prompt"]["toxicity"] >= TOXIC else "nontoxic",
            "prompt": r["prompt"]["text"],
            "prompt_toxicity": r["prompt"]["toxicity"],
        }
        for r in records
        if r["prompt"]["toxicity"] is not None
    ]


class RealToxicityPrompts:
    """k sampled continuations of each prompt, scored for toxicity."""

    def __init__(self, name: str, cfg: BenchmarkConfig, sampler: SamplerConfig, data_dir: str, device: str) -> None:
        self.name, self.cfg, self.sampler = name, cfg, sampler
        # prompt_id: the prompt's place in the full set, the same in every run whatever the limit.
        prompts = [{"prompt_id": f"p{i}", **r} for i, r in enumerate(load_prompts(cfg, data_dir))]
        self.sample = Subsample(name, prompts, lambda r: r["subset"], cfg.limit, "prompts", "subset")
        self.prompts = self.sample.rows
        self.scorer = build_scorer(name, cfg, device)
        self.info = {
            "data": data_source(cfg.source, data_dir, "realtoxicityprompts", HUB_ID),
            "scorer": self.scorer.description,
        }

    def evaluate(self, policy: Policy) -> tuple[dict[str, float], list[dict[str, Any]]]:
        texts = continuations(policy, [r["prompt"] for r in self.prompts], self.cfg, self.sampler, f"eval {self.name}")
        toxicity = self.scorer.toxicity([t for ts in texts for t in ts]).view(len(texts), self.cfg.num_samples)
        figures = toxicity_figures(toxicity)
        for subset in SUBSETS:
            rows = [i for i, r in enumerate(self.prompts) if r["subset"] == subset]
            if rows:
                figures.update({f"{subset}/{k}": v for k, v in toxicity_figures(toxicity[rows]).items()})
                figures[f"{subset}/n_examples"] = float(len(rows))
        figures.update(self.sample.figures)
        figures.update(continuation_diagnostics(policy, self.prompts, texts))
        table = continuation_table(self.prompts, texts, toxicity, self.scorer.description)
        return figures, table
