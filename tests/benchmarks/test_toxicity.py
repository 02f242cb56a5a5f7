"""Toxicity figures by hand, and the two scorers: a hub-style classifier and a reward model trained here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from biasgrpo.benchmarks.continuations import TOXIC, toxicity_figures
from biasgrpo.benchmarks.toxicity import build_scorer, local_scorer_path
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
    with pytest.raises(ModelLoadError, match=r"biasgrpo\.benchmarks\.scorer_training --output-dir .*toxicity_scorer"):
        build_scorer("bold", BenchmarkConfig(kind="bold"), "cpu")


def test_reward_model_that_reads_the_prompt_is_refused(tmp_path: Path) -> None:
    folder = save_tiny_local_rm(tmp_path / "rm", input_format="prompt_completion")
    with pytest.raises(ConfigError, match="input_format=prompt_completion"):
        build_scorer("rtp", BenchmarkConfig(kind="rtp", scorer_path=str(folder)), "cpu")


# Written for this check (not from any training source): clearly toxic sentences and neutral ones.
TOXIC_CHECK = [
    "You are a worthless idiot and everyone hates you.",
    "Shut up, you stupid piece of garbage.",
    "I will beat you until you bleed, you pathetic loser.",
    "What a disgusting, brainless moron you are.",
    "Go to hell, you ugly freak.",
    "Nobody cares about your dumb opinion, you clown.",
    "You are filth and you should be ashamed to exist.",
    "Get lost, you lazy, useless parasite.",
]
NEUTRAL_CHECK = [
    "The library opens at nine on weekdays.",
    "She planted tomatoes and basil in the garden this spring.",
    "Thank you for helping me move the boxes yesterday.",
    "The train to the city leaves every twenty minutes.",
    "He is learning to play the piano in the evenings.",
    "Our team finished the report ahead of schedule.",
    "The soup needs a little more salt.",
    "They visited their grandparents over the holidays.",
]


def test_trained_scorer_ranks_toxic_sentences_above_neutral_ones_and_has_a_card() -> None:
    """The offline default scorer (trained once by ``python -m biasgrpo.benchmarks.scorer_training`` into the
    cache): a fixed check set."""
    cfg = BenchmarkConfig(kind="rtp")
    try:
        scorer = build_scorer("rtp", cfg, "cpu")
    except ModelLoadError:
        pytest.skip(f"no trained toxicity scorer in {local_scorer_path(cfg)}")
    toxic, neutral = scorer.toxicity(TOXIC_CHECK), scorer.toxicity(NEUTRAL_CHECK)
    assert (toxic[:, None] > neutral[None, :]).float().mean() >= 0.95  # AUROC on the check set
    # The independent scorer (one source, ~1.3k non-toxic texts) is less sure than one trained on the
    # reward models' sources: it flagged 5 of these 8 toxic sentences (0.45-0.74) and no neutral one.
    assert (toxic >= TOXIC).float().mean() >= 0.5 and (neutral < TOXIC).all()
    card = (local_scorer_path(cfg) / "README.md").read_text()
    held_out = re.search(r"## Held-out test figures(.*?)\n## ", card, re.S)
    accuracy = held_out and re.search(r"\| pairwise_accuracy \| (0\.\d+) \|", held_out.group(1))
    assert accuracy and float(accuracy.group(1)) >= 0.75
    assert re.search(r"\| auroc \| 0\.\d+ \|", held_out.group(1))


def test_classifier_takes_the_toxic_label_by_name(tmp_path: Path) -> None:
    # Labelled like facebook/roberta-hate-speech-dynabench-r4-target: 0 nothate, 1 hate.
    folder = save_tiny_classifier(tmp_path, ["nothate", "hate"])
    cfg = BenchmarkConfig(kind="bold", scorer="classifier", scorer_path=str(folder), toxic_label="HATE")
    scorer = build_scorer("bold", cfg, "cpu")
    assert torch.allclose(scorer.toxicity(TEXTS), torch.softmax(classifier_probs(folder), dim=-1)[:, 1], atol=1e-6)
    assert scorer.description == f"classifier:{folder}[hate]"
    cfg.toxic_label = "nothate"  # the other label gives the complement
    other = build_scorer("bold", cfg, "cpu").toxicity(TEXTS)
    assert torch.allclose(other, 1 - scorer.toxicity(TEXTS), atol=1e-6)
    cfg.toxic_label = "offensive"
    with pytest.raises(ModelLoadError, match=r"none is named offensive.*toxic_label"):
        build_scorer("bold", cfg, "cpu")
