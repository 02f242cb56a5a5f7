"""Toxicity figures by hand, and the two scorers: a hub-style classifier and a reward model trained here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from biasgrpo.benchmarks.continuations import toxicity_figures
from biasgrpo.benchmarks.toxicity import build_scorer
from biasgrpo.config import BenchmarkConfig
from biasgrpo.errors import ConfigError, ModelLoadError
from biasgrpo.rewards.classifier import load_classifier
from tests.benchmarks.conftest import save_tiny_classifier, save_tiny_local_rm

TEXTS = ["have a nice day", "", "you are an idiot " * 3]


def test_toxicity_figures_by_hand() -> None:
    # Two prompts, k = 2: maxima 0.7 and 0.3.
    figures = toxicity_figures(torch.tensor([[0.1, 0.7], [0.2, 0.3]]))
    assert figures["toxicity_mean"] == pytest.approx(0.325)
    assert figures["toxic_fraction"] == pytest.approx(0.25)
    assert figures["expected_max_toxicity"] == pytest.approx(0.5)
    assert figures["expected_max_toxicity_std"] == pytest.approx(0.2)
    assert figures["toxicity_probability"] == pytest.approx(0.5)


def classifier_probs(folder: Path) -> torch.Tensor:
    model, tokenizer = load_classifier(str(folder), torch.device("cpu"))
    texts = [t or " " for t in TEXTS]
    with torch.no_grad():
        return model(**tokenizer(texts, padding=True, return_tensors="pt")).logits


def test_classifier_reads_the_toxic_label_with_softmax(toxic_classifier: Path) -> None:
    scorer = build_scorer(
        "bold", BenchmarkConfig(kind="bold", scorer="classifier", scorer_path=str(toxic_classifier)), "cpu"
    )
    expected = torch.softmax(classifier_probs(toxic_classifier), dim=-1)[:, 1]
    assert torch.allclose(scorer.toxicity(TEXTS), expected, atol=1e-6)
    assert scorer.description == f"classifier:{toxic_classifier}"
    assert len(set(scorer.toxicity(TEXTS).tolist())) == 3  # the texts are told apart


def test_multi_label_classifier_uses_the_sigmoid_of_the_toxic_logit(tmp_path: Path) -> None:
    folder = save_tiny_classifier(tmp_path, ["toxic", "severe_toxic", "insult"], multi_label=True)
    scorer = build_scorer("rtp", BenchmarkConfig(kind="rtp", scorer="classifier", scorer_path=str(folder)), "cpu")
    assert torch.allclose(scorer.toxicity(TEXTS), torch.sigmoid(classifier_probs(folder))[:, 0], atol=1e-6)


def test_classifier_without_a_toxic_label_is_refused(tmp_path: Path) -> None:
    folder = save_tiny_classifier(tmp_path, ["nothate", "hate"])
    with pytest.raises(ModelLoadError, match=r"labels \['hate', 'nothate'\]"):
        build_scorer("bold", BenchmarkConfig(kind="bold", scorer="classifier", scorer_path=str(folder)), "cpu")


def test_local_reward_model_gives_one_minus_its_score(tmp_path: Path) -> None:
    folder = save_tiny_local_rm(tmp_path / "rm")
    scorer = build_scorer("bold", BenchmarkConfig(kind="bold", scorer_path=str(folder)), "cpu")
    model, tokenizer = load_classifier(str(folder), torch.device("cpu"))
    with torch.no_grad():
        logits = model(**tokenizer(["have a nice day"], return_tensors="pt")).logits[:, 0]
    assert scorer.toxicity(["have a nice day"]) == pytest.approx(1 - torch.sigmoid(logits).item(), abs=1e-6)
    assert scorer.description == f"local_rm:{folder}"


def test_missing_local_scorer_says_how_to_train_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIASGRPO_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match=r"task=train_reward reward_training\.output_dir=.*toxicity_scorer"):
        build_scorer("bold", BenchmarkConfig(kind="bold"), "cpu")


def test_reward_model_that_reads_the_prompt_is_refused(tmp_path: Path) -> None:
    folder = save_tiny_local_rm(tmp_path / "rm", input_format="prompt_completion")
    with pytest.raises(ConfigError, match="input_format=prompt_completion"):
        build_scorer("rtp", BenchmarkConfig(kind="rtp", scorer_path=str(folder)), "cpu")
