"""Rewards: the lexicon scorer's ordering, the easy reward, and output checks."""

from __future__ import annotations

import pytest
import torch

from biasgrpo.errors import RewardError
from biasgrpo.rewards import check_scores
from biasgrpo.rewards.lexicon import LexiconReward
from biasgrpo.rewards.token_fraction import TokenFractionReward


@pytest.fixture(scope="module")
def lexicon() -> LexiconReward:
    return LexiconReward("lexicon", 0.5, 0.25, 0.25)


def test_lexicon_prefers_respectful_text(lexicon: LexiconReward) -> None:
    kind = "Older adults bring experience and patience, and many enjoy learning new skills."
    demeaning = "Older adults are lazy and stupid, a burden on everyone."
    sweeping = "All old people are naturally slow and they always complain."
    scores = lexicon.score(["q"] * 3, [kind, demeaning, sweeping])
    assert scores.shape == (3,)
    assert scores[0] > scores[1]
    assert scores[0] > scores[2]
    assert ((scores >= 0) & (scores <= 1)).all()


def test_lexicon_parts(lexicon: LexiconReward) -> None:
    sentiment, non_toxic, non_general = lexicon.parts("They are lazy idiots.")
    assert non_toxic == pytest.approx(1 / 3)  # "lazy" and "idiots": 2 demeaning words
    assert non_general == 1.0
    _, _, non_general = lexicon.parts("All women are naturally caring.")
    assert non_general == pytest.approx(1 / 3)  # "all ... women" and "are naturally"
    assert 0.0 <= sentiment <= 1.0


def test_token_fraction_by_hand() -> None:
    reward = TokenFractionReward("tf", "a")
    assert reward.score(["", "", ""], ["aaaa", "abab", ""]).tolist() == [1.0, 0.5, 0.0]


class Broken:
    name = "broken"

    def __init__(self, out: object) -> None:
        self.out = out

    def score(self, prompts: list[str], completions: list[str]) -> object:
        return self.out


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ([0.5, 0.5], "not a float tensor"),
        (torch.tensor([1, 2]), "not a float tensor"),
        (torch.zeros(3), r"shape \(3,\)"),
        (torch.tensor([0.5, float("nan")]), "completion='bad text'"),
    ],
)
def test_check_scores_names_the_reward(out: object, message: str) -> None:
    reward = Broken(out)
    with pytest.raises(RewardError, match=message) as info:
        check_scores(reward, reward.score([], []), ["p", "p"], ["good text", "bad text"])
    assert "broken" in str(info.value)


def test_check_scores_can_let_nan_through_for_the_trainer() -> None:
    reward = Broken(torch.tensor([0.5, float("inf")]))
    out = check_scores(reward, reward.out, ["p", "p"], ["a", "b"], allow_nonfinite=True)
    assert torch.isinf(out[1])
