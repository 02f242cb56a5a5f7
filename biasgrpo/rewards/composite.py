"""A weighted sum of named rewards, with each part kept for logging:

    r(p, c) = Σ_k w_k · r_k(p, c)

``last_parts`` holds the unweighted scores ``[N]`` of each part from the latest call; the trainer
logs their means as ``reward/part/<name>``. Reward hacking shows there: a policy that learns
empty answers a bias model rates as harmless lifts the bias part while the length part falls.
"""

from __future__ import annotations

import torch

from biasgrpo.rewards import Reward, check_scores


class CompositeReward:
    def __init__(self, name: str, parts: dict[str, tuple[float, Reward]]) -> None:
        self.name = name
        self.parts = parts
        self.last_parts: dict[str, torch.Tensor] = {}

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        total = torch.zeros(len(completions))  # [N]
        self.last_parts = {}
        for name, (weight, reward) in self.parts.items():
            # Each part is checked on its own, so an error names the part and the text.
            part = check_scores(reward, reward.score(prompts, completions), prompts, completions).cpu()
            self.last_parts[name] = part
            total += weight * part
        return total
