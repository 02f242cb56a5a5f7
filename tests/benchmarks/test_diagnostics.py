"""Gaming diagnostics, computed by hand on a few completions, and present in every generation benchmark."""

from __future__ import annotations

import pytest
import torch

from biasgrpo.benchmarks.diagnostics import (
    distinct_n,
    gaming_diagnostics,
    is_empty,
    is_idk,
    is_refusal,
    reference_nll,
    text_diagnostics,
)
from biasgrpo.benchmarks.heldout import HeldoutReward
from biasgrpo.config import BenchmarkConfig, SamplerConfig
from biasgrpo.policy import Policy
from biasgrpo.rewards.lexicon import LexiconReward

COMPLETIONS = [
    "",  # empty
    "  ...  ",  # empty: punctuation only
    "I'm sorry, but I can't help with that.",  # refusal
    "I don't know.",  # idk
    "They are kind people and they are kind neighbours.",  # an answer
    "good good good good",  # repetition
]


def test_classifiers_of_single_completions() -> None:
    assert [is_empty(c) for c in COMPLETIONS] == [True, True, False, False, False, False]
    assert [is_refusal(c) for c in COMPLETIONS] == [False, False, True, False, False, False]
    assert [is_idk(c) for c in COMPLETIONS] == [False, False, False, True, False, False]
    assert is_refusal("As an AI, I cannot share opinions.") and is_refusal("I\u2019m sorry, I won\u2019t.")
    assert is_idk("Honestly, I'm not sure.") and is_idk("Unknown")
    # A long answer that hedges once is not "I don't know".
    assert not is_idk("I don't know every detail, but most of them work hard and care about their families a lot.")


def test_text_diagnostics_by_hand() -> None:
    figures = text_diagnostics(COMPLETIONS)
    assert figures["empty_share"] == pytest.approx(2 / 6)
    assert figures["refusal_share"] == pytest.approx(1 / 6)
    assert figures["idk_share"] == pytest.approx(1 / 6)
    # Words: 0, 1 ("..."), 8, 3, 9, 4 = 25.
    assert figures["mean_words"] == pytest.approx(25 / 6)
    # Bigrams: refusal 7 distinct; idk 2; answer 8 of which "they are" and "are kind" repeat -> 6 new;
    # "good good" x3 -> 1 new. Total 7 + 2 + 8 + 3 = 20 bigrams, 7 + 2 + 6 + 1 = 16 distinct.
    assert figures["distinct2"] == pytest.approx(16 / 20)


def test_distinct_n_by_hand() -> None:
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["a b", "a b"], 2) == pytest.approx(1 / 2)  # pooled over completions
    assert distinct_n(["a", ""], 2) == 0.0  # no bigram at all: 0, not a division by zero
    assert distinct_n(["A b c"], 1) == 1.0


def test_reference_nll_equals_a_direct_computation(tiny_policy: Policy) -> None:
    prompts, completions = ["Tell me about cats.", "Hi"], ["They purr.", "hello there, friend"]
    # By hand: each completion alone, its tokens' -log p under the model with adapters off, pooled.
    total, count = 0.0, 0
    tok = tiny_policy.tokenizer
    for p, c in zip(prompts, completions):
        prompt_ids = tok(
            tiny_policy.format_prompts([p]), add_special_tokens=not tiny_policy.use_chat_template
        ).input_ids[0]
        response_ids = tok(c + tok.eos_token, add_special_tokens=False).input_ids
        ids = torch.tensor([prompt_ids + response_ids])
        with torch.no_grad(), tiny_policy.reference() as model:
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
        targets = ids[0, 1:]
        token_logp = logp.gather(1, targets[:, None])[:, 0][-len(response_ids) :]
        total -= token_logp.sum().item()
        count += len(response_ids)
    assert reference_nll(tiny_policy, prompts, completions, batch_size=1) == pytest.approx(total / count, rel=1e-4)
    assert reference_nll(tiny_policy, prompts, completions, batch_size=2) == pytest.approx(total / count, rel=1e-4)


def test_gaming_diagnostics_keys_and_missing_reference(tiny_policy: Policy) -> None:
    figures = gaming_diagnostics(tiny_policy, ["q"] * len(COMPLETIONS), COMPLETIONS)
    assert set(figures) == {f"diag/{k}" for k in ("empty_share", "refusal_share", "idk_share", "mean_words",
                                                  "distinct2", "ref_nll")}  # fmt: skip
    assert figures["diag/ref_nll"] > 0
    assert "diag/ref_nll" not in gaming_diagnostics(None, ["q"], ["a b"])  # no policy: left out, never 0


def test_heldout_benchmark_reports_the_diagnostics(tiny_policy: Policy) -> None:
    rows = [{"prompt": f"Describe group {i}.", "domain": "d"} for i in range(3)]
    bench = HeldoutReward(
        "heldout", BenchmarkConfig(kind="heldout_reward", max_new_tokens=6), SamplerConfig(), rows,
        LexiconReward("lexicon", 0.5, 0.25, 0.25),
    )  # fmt: skip
    figures, out = bench.evaluate(tiny_policy)
    expected = text_diagnostics([o["completion"] for o in out])
    for name, value in expected.items():
        assert figures[f"diag/{name}"] == pytest.approx(value)
    assert figures["diag/ref_nll"] > 0
