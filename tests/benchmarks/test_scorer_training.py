"""The independent toxicity scorer: its data, its training on a tiny trunk, and its Perspective figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from biasgrpo.benchmarks.independence import check_scorer_independence
from biasgrpo.benchmarks.perspective import agreement, pearson, perspective_texts
from biasgrpo.benchmarks.scorer_training import (
    CARD_JSON,
    SOURCE,
    read_labelled,
    recalibrate,
    reward_texts,
    train_scorer,
)
from biasgrpo.benchmarks.toxicity import build_scorer
from biasgrpo.config import BenchmarkConfig, RewardTrainingConfig, validate
from biasgrpo.rewards.classifier import META_FILE
from biasgrpo.rewards.preference import average_ranks, spearman
from tests.benchmarks.test_independence import RM_SOURCES, trained_on


def write_cannot_rewrite(root: Path) -> Path:
    """paradetox_cannot_rewrite.tsv with 40 toxic, 20 not toxic, 5 unclear and 5 doubly marked rows,
    and a paradetox.tsv (the reward models' pairs) that holds one of the toxic texts."""
    folder = root / "paradetox"
    folder.mkdir(parents=True)
    lines = ["\tINPUT:toxic_comment\tOUTPUT:reasons"]
    rows = [(f"you stupid worthless idiot number {i}", {"toxic_content": True}) for i in range(40)]
    rows += [(f"have a lovely quiet day friend number {i}", {"not_toxic": True}) for i in range(20)]
    rows += [(f"hmm maybe number {i}", {"unclear": True}) for i in range(5)]
    rows += [(f"both marks number {i}", {"toxic_content": True, "not_toxic": True}) for i in range(5)]
    for i, (text, reasons) in enumerate(rows):
        quoted = json.dumps(json.dumps(reasons))[1:-1].replace('\\"', '""')
        lines.append(f'{i}\t"""{text}"""\t"{quoted}"')
    (folder / "paradetox_cannot_rewrite.tsv").write_text("\n".join(lines) + "\n")
    pairs = ["toxic\tneutral1\tneutral2\tneutral3", "You stupid worthless idiot number 0\tyou are wrong, number 0\t\t"]
    (folder / "paradetox.tsv").write_text("\n".join(pairs) + "\n")
    return root


def test_read_labelled_keeps_clear_labels_and_drops_the_rewards_texts(tmp_path: Path) -> None:
    data = write_cannot_rewrite(tmp_path)
    exclude = reward_texts(data)
    assert "you stupid worthless idiot number 0" in exclude
    rows = read_labelled(data / "paradetox" / "paradetox_cannot_rewrite.tsv", exclude)
    assert sum(toxic for _, toxic in rows) == 39  # 40 toxic, one also in paradetox.tsv
    assert sum(not toxic for _, toxic in rows) == 20  # unclear and doubly marked rows dropped
    assert rows[0] == ("you stupid worthless idiot number 1", True)  # the quotes are gone


def test_trained_scorer_records_its_sources_and_is_independent(
    tmp_path: Path, make_cfg: Callable[..., DictConfig]
) -> None:
    data = write_cannot_rewrite(tmp_path / "data")
    rt = RewardTrainingConfig(
        backbone="tiny", keep_layers=1, sources=[SOURCE], train_pairs_per_source=0, eval_pairs_per_source=0,
        val_fraction=0.2, test_fraction=0.2, batch_size=8, eval_every=0, warmup_steps=0,
    )  # fmt: skip
    out = tmp_path / "scorer"
    summary = train_scorer(data, out, rt, seed=0)
    assert summary["data/train_pairs"] > 0 and summary["data/val_pairs"] > 0 and summary["data/test_pairs"] > 0
    assert summary["data/train_pairs"] + summary["data/val_pairs"] + summary["data/test_pairs"] <= 39  # toxic texts
    meta = json.loads((out / META_FILE).read_text())
    assert meta["training"]["sources"] == [SOURCE] and meta["input_format"] == "completion"
    card = json.loads((out / CARD_JSON).read_text())
    assert card["sources"] == [SOURCE] and card["test"]["auroc"] == summary["eval/test/auroc"]
    assert "## Held-out test figures" in (out / "README.md").read_text()
    # BOLD/RTP load it, and a run against a default-recipe reward model passes the independence check.
    scorer = build_scorer("rtp", BenchmarkConfig(kind="rtp", scorer_path=str(out)), "cpu")
    assert scorer.toxicity(["hello", "you idiot"]).shape == (2,)
    # Recalibrating refits the same calibration on the same validation texts; the weights stay.
    calibration = json.loads((out / META_FILE).read_text())["calibration"]
    again = recalibrate(data, out, seed=0)
    assert json.loads((out / META_FILE).read_text())["calibration"] == pytest.approx(calibration, abs=1e-5)
    assert again["eval/test/auroc"] == pytest.approx(summary["eval/test/auroc"])
    assert again["train/steps"] == summary["train/steps"]
    rm = trained_on(tmp_path / "rm", RM_SOURCES)
    conf = validate(
        make_cfg("reward=local_rm", f"reward.path={rm}", "benchmark=[rtp]", f"benchmark.rtp.scorer_path={out}")
    )
    assert check_scorer_independence(conf)["independence/rtp/shared"] == ""


def test_rank_correlations_by_hand() -> None:
    assert average_ranks(torch.tensor([10.0, 30.0, 20.0, 20.0])).tolist() == [1.0, 4.0, 2.5, 2.5]
    x, y = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 3.0, 2.0, 4.0])
    # Pearson of (1,2,3,4) and (1,3,2,4): centred (-1.5,-.5,.5,1.5) and (-1.5,.5,-.5,1.5): 4 / 5.
    assert pearson(x, y) == pytest.approx(0.8)
    assert spearman(x, y) == pytest.approx(0.8)  # already ranks
    assert spearman(x, y.exp()) == pytest.approx(0.8)  # invariant to a monotone map
    assert pearson(x, torch.ones(4)) == 0.0


def test_agreement_auroc_at_perspective_one_half() -> None:
    perspective = torch.tensor([0.9, 0.6, 0.4, 0.1])  # toxic: the first two
    scorer = torch.tensor([0.8, 0.3, 0.5, 0.2])  # one toxic text (0.3) below one non-toxic (0.5)
    figures = agreement(scorer, perspective)
    assert figures["n"] == 4 and figures["n_toxic"] == 2
    assert figures["auroc"] == pytest.approx(3 / 4)  # 3 of the 4 (toxic, non-toxic) pairs in order
    assert figures["spearman"] == pytest.approx(0.8)  # ranks (4,2,3,1) vs (4,3,2,1): 1 - 6*2/(4*15)


def test_perspective_texts_of_the_local_copy(shared_data: str) -> None:
    parts = perspective_texts(shared_data)
    assert len(parts["prompts"]) + len(parts["continuations"]) == 4773
    assert all(0.0 <= s <= 1.0 and t.strip() for rows in parts.values() for t, s in rows)


def test_validation_and_test_pairs_are_balanced(tmp_path: Path) -> None:
    from biasgrpo.benchmarks.scorer_training import scorer_pairs

    rows = [(f"toxic text {i}", True) for i in range(300)] + [(f"kind text {i}", False) for i in range(100)]
    splits = scorer_pairs(rows, RewardTrainingConfig(train_pairs_per_source=0, eval_pairs_per_source=0), seed=0)
    for split in ("val", "test"):  # each text once: as many toxic as non-toxic texts, so calibration sees 1:1
        pairs = splits[split]
        assert len({p.chosen for p in pairs}) == len({p.rejected for p in pairs}) == len(pairs)
    train = splits["train"]
    assert len({p.rejected for p in train}) == len(train) > len({p.chosen for p in train})  # toxic once, kind cycle
