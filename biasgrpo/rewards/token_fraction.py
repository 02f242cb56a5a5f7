"""A reward that is easy to learn, for tests and sanity runs: the share of a string."""

from __future__ import annotations

import torch


class TokenFractionReward:
    """Fraction of the completion's characters covered by occurrences of ``token``."""

    def __init__(self, name: str, token: str) -> None:
        self.name = name
        self.token = token

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        return torch.tensor(
            [c.count(self.token) * len(self.token) / len(c) if c else 0.0 for c in completions],
            dtype=torch.float32,
        )
