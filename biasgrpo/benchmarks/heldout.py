"""Mean reward of greedy completions on held-out prompts (templates never trained on).

This measures what the policy learned on prompts it has not seen, under the training
reward; it is not a substitute for the published bias benchmarks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tqdm import tqdm

from biasgrpo.benchmarks.diagnostics import gaming_diagnostics
from biasgrpo.benchmarks.examples import text_id, unique_ids
from biasgrpo.config import BenchmarkConfig, SamplerConfig
from biasgrpo.data import Row
from biasgrpo.policy import Policy
from biasgrpo.rewards import Reward, check_scores
from biasgrpo.sampler import sample


class HeldoutReward:
    def __init__(
        self, name: str, cfg: BenchmarkConfig, sampler: SamplerConfig, rows: list[Row], reward: Reward
    ) -> None:
        self.name = name
        self.info = {"reward": reward.name}
        self.rows = rows[: cfg.limit] if cfg.limit else rows
        self.batch_size = cfg.batch_size
        self.sampler = dataclasses.replace(sampler, max_new_tokens=cfg.max_new_tokens)
        self.reward = reward

    def evaluate(self, policy: Policy) -> tuple[dict[str, float], list[dict[str, Any]]]:
        if not self.rows:
            raise ValueError(f"benchmark {self.name!r} has no prompts: set dataset.eval_prompts > 0")
        out: list[dict[str, Any]] = []
        for i in tqdm(range(0, len(self.rows), self.batch_size), desc=f"eval {self.name}", leave=False):
            rows = self.rows[i : i + self.batch_size]
            prompts = [r["prompt"] for r in rows]
            rollout = sample(policy, prompts, 1, self.sampler, greedy=True)
            scores = check_scores(
                self.reward, self.reward.score(prompts, rollout.completions), prompts, rollout.completions
            )
            out += [{**r, "completion": c, "reward": float(s)} for r, c, s in zip(rows, rollout.completions, scores)]
        # id: a hash of the prompt (held-out prompts depend on the dataset's seed; equal prompts pair up).
        for o, i in zip(out, unique_ids(text_id(o["prompt"]) for o in out)):
            o["id"] = i
        figures = {"reward_mean": sum(o["reward"] for o in out) / len(out)}
        for domain in sorted({o["domain"] for o in out}):
            scores_d = [o["reward"] for o in out if o["domain"] == domain]
            figures[f"reward_mean/{domain}"] = sum(scores_d) / len(scores_d)
        figures.update(gaming_diagnostics(policy, [o["prompt"] for o in out], [o["completion"] for o in out]))
        return figures, out
