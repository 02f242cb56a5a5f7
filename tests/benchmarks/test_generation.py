"""BOLD and RealToxicityPrompts: figures by hand, and runs of the tiny policy on a miniature data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from biasgrpo.benchmarks.bold import BOLD, bold_figures, load_prompts
from biasgrpo.benchmarks.rtp import RealToxicityPrompts
from biasgrpo.config import BenchmarkConfig, SamplerConfig
from biasgrpo.errors import DataError
from biasgrpo.policy import Policy


def test_bold_group_gaps_by_hand() -> None:
    rows = [
        {"domain": "race", "group": "a", "sentiment": [0.5]},
        {"domain": "race", "group": "a", "sentiment": [0.1]},
        {"domain": "race", "group": "b", "sentiment": [-0.2]},
        {"domain": "gender", "group": "c", "sentiment": [0.0]},
    ]
    figures = bold_figures(rows, torch.tensor([[0.1], [0.3], [0.6], [0.0]]))
    assert figures["race/a/toxicity_mean"] == pytest.approx(0.2)
    assert figures["race/toxicity_gap"] == pytest.approx(0.4)  # 0.6 - 0.2
    assert figures["race/sentiment_gap"] == pytest.approx(0.5)  # 0.3 - (-0.2)
    assert figures["gender/toxicity_gap"] == 0.0  # one group: no gap
    assert figures["toxicity_gap_mean"] == pytest.approx(0.2)
    assert figures["sentiment_mean"] == pytest.approx(0.1)
    assert figures["toxicity_mean"] == pytest.approx(0.25)


def bench(kind: str, classifier: Path, **kw: object) -> BenchmarkConfig:
    return BenchmarkConfig(kind=kind, scorer="classifier", scorer_path=str(classifier), max_new_tokens=4, **kw)


def test_bold_reports_every_domain_and_group(bench_data: Path, toxic_classifier: Path, tiny_policy: Policy) -> None:
    cfg = bench("bold", toxic_classifier, limit=1, num_samples=2)
    bold = BOLD("bold", cfg, SamplerConfig(), str(bench_data), "cpu")
    assert len(bold.prompts) == 10  # 5 domains x 2 groups x limit 1
    figures, rows = bold.evaluate(tiny_policy)
    assert len(rows) == 20 and {r["scorer"] for r in rows} == {f"classifier:{toxic_classifier}"}
    assert (figures["n_examples"], figures["n_full"], figures["limit"]) == (10, 20, 1)
    assert 0.0 <= figures["toxicity_mean"] <= 1.0 and -1.0 <= figures["sentiment_mean"] <= 1.0
    for domain in ("gender", "political_ideology", "profession", "race", "religious_ideology"):
        assert f"{domain}/toxicity_gap" in figures and f"{domain}/{domain}_b/sentiment_mean" in figures
    assert bold.info == {"data": f"local:{bench_data}/bold/prompts", "scorer": f"classifier:{toxic_classifier}"}


def test_generation_is_seeded_and_leaves_the_global_rng_alone(
    bench_data: Path, toxic_classifier: Path, tiny_policy: Policy
) -> None:
    bold = BOLD("bold", bench("bold", toxic_classifier, limit=1), SamplerConfig(), str(bench_data), "cpu")
    torch.manual_seed(123)
    first, _ = bold.evaluate(tiny_policy)
    after = torch.rand(1)
    torch.manual_seed(123)
    again, _ = bold.evaluate(tiny_policy)
    assert first == again
    assert torch.equal(torch.rand(1), after)


def test_rtp_splits_prompts_by_their_own_toxicity(
    bench_data: Path, toxic_classifier: Path, tiny_policy: Policy
) -> None:
    rtp = RealToxicityPrompts(
        "rtp", bench("rtp", toxic_classifier, num_samples=3), SamplerConfig(), str(bench_data), "cpu"
    )
    # toxic.jsonl holds one prompt scored 0.3: it counts as non-toxic.
    assert sorted(r["subset"] for r in rtp.prompts) == ["nontoxic", "nontoxic", "nontoxic", "toxic"]
    figures, rows = rtp.evaluate(tiny_policy)
    assert figures["toxic/n_examples"] == 1 and figures["nontoxic/n_examples"] == 3 and len(rows) == 12
    assert (figures["n_examples"], figures["n_full"], figures["limit"]) == (4, 4, 0)
    toxic = torch.tensor([r["toxicity"] for r in rows if r["subset"] == "toxic"])
    assert figures["toxic/expected_max_toxicity"] == pytest.approx(toxic.max().item())
    assert figures["expected_max_toxicity"] >= figures["toxicity_mean"]


def test_missing_bold_domain_is_named(bench_data: Path) -> None:
    (bench_data / "bold" / "prompts" / "race_prompt.json").unlink()
    with pytest.raises(DataError, match=r"race_prompt\.json"):
        load_prompts(BenchmarkConfig(kind="bold"), str(bench_data))


def test_local_copies_load_in_full(shared_data: str) -> None:
    assert len(load_prompts(BenchmarkConfig(kind="bold"), shared_data)) == 23_679
    from biasgrpo.benchmarks.rtp import load_prompts as rtp_prompts

    prompts = rtp_prompts(BenchmarkConfig(kind="rtp"), shared_data)
    assert len(prompts) == 2396 and sum(p["subset"] == "toxic" for p in prompts) == 993
