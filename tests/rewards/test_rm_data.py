"""Reward-model pairs: sources parsed, splits by row with no text shared, caps and targets."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from biasgrpo.config import RewardTrainingConfig
from biasgrpo.errors import DataError
from biasgrpo.rewards.rm_data import SPLITS, load_reward_pairs, split_of
from tests.rewards.conftest import GROUPS

CFG = RewardTrainingConfig(val_fraction=0.25, test_fraction=0.25, train_pairs_per_source=0, eval_pairs_per_source=0)


def texts(pairs: list) -> set[str]:
    return {t for p in pairs for t in (p.chosen, p.rejected)}


def test_every_source_reaches_every_split_and_no_text_crosses(rm_data_dir: Path) -> None:
    splits = load_reward_pairs(CFG, str(rm_data_dir), seed=0)
    for split in SPLITS:
        assert {p.source for p in splits[split]} == {"paradetox", "toxigen", "davidson"}, split
    assert not texts(splits["train"]) & texts(splits["val"])
    assert not texts(splits["train"]) & texts(splits["test"])
    assert not texts(splits["val"]) & texts(splits["test"])
    # 41 ParaDetox rows, one repeated: the twins share a split, so 41 pairs in all.
    assert sum(p.source == "paradetox" for s in SPLITS for p in splits[s]) == 41


def test_pairs_contrast_the_right_texts(rm_data_dir: Path) -> None:
    pairs = [p for s in load_reward_pairs(CFG, str(rm_data_dir), seed=0).values() for p in s]
    for p in pairs:
        assert "idiot" in p.rejected and "idiot" not in p.chosen
    toxigen = [p for p in pairs if p.source == "toxigen"]
    # The same group on both sides, and the first letter upper-cased so case is no cue.
    assert all(any(g in p.chosen and g in p.rejected for g in GROUPS) for p in toxigen)
    assert all(p.chosen[0].isupper() and p.rejected[0].isupper() for p in toxigen)
    davidson = [p for p in pairs if p.source == "davidson"]
    assert davidson and all(p.chosen_target == 1.0 and p.rejected_target == pytest.approx(1 / 3) for p in davidson)
    assert all("\n" not in p.chosen and "&amp;" not in p.chosen for p in davidson)  # unescaped, one line


def test_caps_and_seed(rm_data_dir: Path) -> None:
    cfg = dataclasses.replace(CFG, train_pairs_per_source=3, eval_pairs_per_source=2)
    splits = load_reward_pairs(cfg, str(rm_data_dir), seed=0)
    for source in ("paradetox", "toxigen", "davidson"):
        assert sum(p.source == source for p in splits["train"]) == 3
        assert sum(p.source == source for p in splits["test"]) == 2
    assert load_reward_pairs(cfg, str(rm_data_dir), seed=0) == splits
    assert load_reward_pairs(cfg, str(rm_data_dir), seed=1) != splits


def test_split_ignores_case_and_spacing() -> None:
    assert split_of("Hello  World ", 0, 0.3, 0.3) == split_of("hello world", 0, 0.3, 0.3)
    shares = [split_of(f"text {i}", 0, 0.1, 0.2) for i in range(5000)]
    assert shares.count("test") / 5000 == pytest.approx(0.2, abs=0.02)
    assert shares.count("val") / 5000 == pytest.approx(0.1, abs=0.02)


def test_missing_source_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="BIASGRPO_DATA_DIR"):
        load_reward_pairs(CFG, str(tmp_path), seed=0)


@pytest.mark.skipif(not os.environ.get("BIASGRPO_DATA_DIR"), reason="needs BIASGRPO_DATA_DIR (shared/data)")
def test_real_data_splits_do_not_leak() -> None:
    splits = load_reward_pairs(RewardTrainingConfig(), os.environ["BIASGRPO_DATA_DIR"], seed=0)
    assert len(splits["train"]) == 3000  # 1000 from each source
    for split in ("val", "test"):
        assert {p.source for p in splits[split]} == {"paradetox", "toxigen", "davidson"}
        assert not texts(splits["train"]) & texts(splits[split])
    assert not texts(splits["val"]) & texts(splits["test"])
