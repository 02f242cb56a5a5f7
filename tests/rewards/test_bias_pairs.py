"""The bias pair source: every kind present, splits apart in group, template and wording, no benchmark text."""

from __future__ import annotations

import dataclasses
import os
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from biasgrpo.config import RewardTrainingConfig
from biasgrpo.data.decontam import build_index
from biasgrpo.data.templates import EVAL_TEMPLATES
from biasgrpo.rewards.bias_pairs import (
    ACTS,
    EVASION_KINDS,
    FILLER,
    REFUSALS,
    STEREOTYPE_FRAMES,
    TRAITS,
    all_groups,
    bias_pairs,
    build_vocab,
    evasion_check_pairs,
)
from biasgrpo.rewards.rm_data import SPLITS, load_reward_pairs

CFG = RewardTrainingConfig(sources=["bias"], train_pairs_per_source=600, eval_pairs_per_source=300)


def kinds(pairs: list) -> set[str]:
    return {p.source.removeprefix("bias/") for p in pairs}


def test_every_kind_reaches_every_split(rm_data_dir: Path) -> None:
    splits = bias_pairs(rm_data_dir, CFG, seed=0)
    assert [len(splits[s]) for s in SPLITS] == [600, 300, 300]
    for split in SPLITS:
        # The tiny folder's ToxiGen groups are not ToxiGen's, so no toxigen pairs there.
        assert kinds(splits[split]) == {*EVASION_KINDS, "stereotype", "davidson", "paradetox"}, split


def test_evasions_are_what_they_say(rm_data_dir: Path) -> None:
    pairs = [p for s in bias_pairs(rm_data_dir, CFG, seed=0).values() for p in s]
    by = {k: [p for p in pairs if p.source == f"bias/{k}"] for k in EVASION_KINDS}
    assert all(not p.rejected.strip(" .\n") for p in by["empty"])
    assert all(p.rejected in REFUSALS for p in by["refusal"])
    assert all(p.prompt in p.rejected and p.rejected.replace(p.prompt, "").strip() == "" for p in by["copy"])
    assert all(len(set(p.rejected.split())) == 1 and len(p.rejected.split()) >= 3 for p in by["repeat"])
    # Off topic: the prompt's group is never named (filler, or an answer about another group).
    assert all(p.group.lower() not in p.rejected.lower() for p in by["off_topic"] + by["other_group"])
    assert all(any(p.rejected.startswith(f) for f in FILLER) for p in by["off_topic"])
    # The respectful answer is on topic: it names the group, or continues the prompt's sentence.
    assert all(p.group.lower() in p.chosen.lower() or p.chosen.startswith("...") for p in pairs)


def test_groups_prompts_and_wordings_are_held_out(rm_data_dir: Path) -> None:
    splits = bias_pairs(rm_data_dir, CFG, seed=0)
    groups = {s: {p.group for p in splits[s]} for s in SPLITS}
    prompts = {s: {p.prompt for p in splits[s]} for s in SPLITS}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not groups[a] & groups[b], (a, b)
        assert not prompts[a] & prompts[b], (a, b)
    vocab = build_vocab(all_groups(rm_data_dir, list(CFG.bias_resources), 0), 0, (0.1, 0.1))
    for name in ("frames", "traits", "acts", "body", "direct", "virtues"):
        assert not set(vocab[name]["train"]) & set(vocab[name]["test"]), name
    train_templates = {t for _, t in vocab["prompts"]["train"]}
    assert not train_templates & {t for _, t in EVAL_TEMPLATES}  # the held-out benchmark's templates
    # A test stereotype uses test traits and acts only.
    train_only = [t for t in TRAITS if t not in vocab["traits"]["test"] and len(t) > 6]
    train_only += [a for a, _ in ACTS if (a, _) not in vocab["acts"]["test"]]
    stereo = [p.rejected for p in splits["test"] if p.source == "bias/stereotype"]
    assert stereo and not [(t, r) for r in stereo for t in train_only if f" {t}." in r or f" {t} " in r]


def test_evasion_check_set_is_on_unseen_prompts(rm_data_dir: Path) -> None:
    # The package's 66 groups alone hold about 110 test prompts; HolisticBias's groups make it thousands.
    checks = evasion_check_pairs(rm_data_dir, CFG, seed=0, n_prompts=80)
    prompts = {p.prompt for p in checks}
    assert len(prompts) == 80 and len(checks) == 80 * len(EVASION_KINDS)
    assert {p.source for p in checks} == {f"evasion/{k}" for k in EVASION_KINDS}
    train = bias_pairs(rm_data_dir, CFG, seed=0)["train"]
    assert not prompts & {p.prompt for p in train}
    assert not {p.group for p in checks} & {p.group for p in train}


def test_seeded_and_capped_through_load_reward_pairs(rm_data_dir: Path) -> None:
    cfg = dataclasses.replace(CFG, train_pairs_per_source=50, eval_pairs_per_source=20)
    a = load_reward_pairs(cfg, str(rm_data_dir), seed=0)
    assert [len(a[s]) for s in SPLITS] == [50, 20, 20]
    assert a == load_reward_pairs(cfg, str(rm_data_dir), seed=0)
    assert a != load_reward_pairs(cfg, str(rm_data_dir), seed=1)


def test_off_topic_minimal_pairs_name_another_group(rm_data_dir: Path) -> None:
    from biasgrpo.rewards.bias_pairs import GroupTerm, swap_group

    zorgs, blips = GroupTerm("zorgs", "a zorg", "zorgs"), GroupTerm("blips", "a blip", "blips")
    assert swap_group("Zorgs are kind. I like zorgs.", zorgs, blips) == "Blips are kind. I like blips."
    # In the training pairs: some off-topic answers are the chosen answer about another group.
    pairs = [p for p in bias_pairs(rm_data_dir, CFG, seed=0)["train"] if p.source == "bias/other_group"]
    minimal = [p for p in pairs if SequenceMatcher(None, p.chosen, p.rejected).ratio() > 0.7]
    assert len(minimal) >= 0.25 * len(pairs)
    assert all(p.group.lower() not in p.rejected.lower() for p in minimal)


def test_frames_fill_with_every_placeholder() -> None:
    from biasgrpo.rewards.bias_pairs import GroupTerm, fill

    group = GroupTerm("zorgs", "a zorg", "zorgs")
    for frame in STEREOTYPE_FRAMES:
        text = fill(frame, group, trait="lazy", act="lie", act_base="lie", privilege="vote", skill="math")
        assert "{" not in text and "zorg" in text.lower() and text[0].isupper()


@pytest.mark.skipif(not os.environ.get("BIASGRPO_DATA_DIR"), reason="needs BIASGRPO_DATA_DIR (shared/data)")
def test_no_benchmark_text_in_any_pair() -> None:
    """No pair text shares an 8-word n-gram with BBQ, BOLD, RealToxicityPrompts or TruthfulQA."""
    root = Path(os.environ["BIASGRPO_DATA_DIR"])
    index = build_index(root, 8)
    cfg = dataclasses.replace(CFG, train_pairs_per_source=3000, eval_pairs_per_source=600)
    pairs = [p for s in bias_pairs(root, cfg, seed=0).values() for p in s]
    checks = evasion_check_pairs(root, cfg, seed=0, n_prompts=200)
    assert len({p.prompt for p in checks}) == 200
    pairs += checks
    assert kinds(pairs) >= {"toxigen", "davidson", "paradetox", "stereotype"}
    leaks = {t for p in pairs for t in (p.prompt, p.chosen, p.rejected) if index.match(t)}
    assert not leaks, sorted(leaks)[:5]
