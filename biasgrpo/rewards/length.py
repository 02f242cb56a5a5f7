"""A length penalty: 0 inside a word-count window, down to -1 outside it.

    score = -min(1, max(0, m - n) / m + max(0, n - M) / M)

for a completion of n words and the window [m, M] (``min_words``, ``max_words``; with m = 0
only long completions are penalised). In a composite reward it counters the cheapest ways to
please a bias reward model: an empty answer, or a long hedge that buries the question.
"""

from __future__ import annotations

import torch


class LengthPenalty:
    def __init__(self, name: str, min_words: int, max_words: int) -> None:
        self.name = name
        self.min_words = min_words
        self.max_words = max_words

    def penalty(self, words: int) -> float:
        short = (self.min_words - words) / self.min_words if words < self.min_words else 0.0
        long = (words - self.max_words) / self.max_words if words > self.max_words else 0.0
        return -min(1.0, short + long)

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        return torch.tensor([self.penalty(len(c.split())) for c in completions], dtype=torch.float32)
