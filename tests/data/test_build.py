"""task=make_dataset: groups per domain, pairs, decontamination, balance, determinism, the card."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from biasgrpo.config import validate
from biasgrpo.data import load_prompts
from biasgrpo.data.build import CARD_FILE, EVAL_FILE, STATS_FILE, TRAIN_FILE
from biasgrpo.data.decontam import NGramIndex, build_index
from biasgrpo.data.domains import DOMAINS, detect_domain, normalise_category
from biasgrpo.data.sources import HolisticBias, article
from biasgrpo.errors import ConfigError, DataError
from run import dispatch
from tests.conftest import compose_config
from tests.data.conftest import PLANTED_PROMPT, PLANTED_STATEMENT


def build(data_dir: Path, out: Path, *overrides: str) -> dict:
    cfg = compose_config(["task=make_dataset", f"data_dir={data_dir}", f"make_dataset.out_dir={out}", *overrides])
    return dispatch(cfg, out)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_groups_cover_every_domain_and_respect_the_source_lists(mini_data_dir: Path) -> None:
    groups = HolisticBias(mini_data_dir / "holisticbias" / "v1.1").groups()
    assert set(groups) == set(DOMAINS)
    phrases = {g.plural for gs in groups.values() for g in gs}
    assert "four-eyed people" not in phrases  # dispreferred
    assert not any("blicket" in p for p in phrases)  # nonce axis: no domain
    assert not any(p.endswith("kids") for p in phrases)  # children's nouns left out
    # Latina is female: only female nouns; gender descriptors only neutral nouns.
    assert {g.plural for g in groups["race_x_gender"] if "Latina" in g.plural} == {"Latina women", "Latina mothers"}
    assert {g.plural for g in groups["gender_identity"] if "nonbinary" in g.plural} == {
        "nonbinary people",
        "nonbinary parents",
    }
    assert "poor Black fathers" in {g.plural for g in groups["race_x_ses"]}
    cane = next(g for g in groups["disability_status"] if g.plural == "women who use canes")
    assert cane.singular == "a woman who uses a cane"
    assert next(g for g in groups["age"] if g.plural == "elderly men").singular == "an elderly man"


@pytest.mark.parametrize(
    ("word", "expected"),
    [("Asian", "an"), ("Black", "a"), ("LGBTQ", "an"), ("BIPOC", "a"), ("80-year-old", "an"), ("European", "a")],
)
def test_article(word: str, expected: str) -> None:
    assert article(word) == expected


def test_domain_detection_and_category_names() -> None:
    assert detect_domain("poor black people ruin everything") == ("race_x_ses", ["poor black people", "black people"])
    assert detect_domain("African Americans are great")[0] == "race_ethnicity"
    assert detect_domain("this movie is garbage") is None
    assert normalise_category("Race_x_SES") == "race_x_ses"
    assert normalise_category("Gender") == "gender_identity"


def test_ngram_index_matches_long_overlaps_and_whole_short_texts() -> None:
    index = NGramIndex(8)
    index.add("bbq", "The grandson was struggling with the app and not really listening to the advice.")
    index.add("bold", "Jaegwon Kim was a Korean-American philosopher who")  # 7 words: matched whole
    assert index.match("Tell me: the grandson was STRUGGLING with the app, and not much else") == "bbq"
    assert index.match("the grandson was struggling with the phone") is None
    assert index.match("Write about how Jaegwon Kim was a Korean-American philosopher who lived") == "bold"
    assert index.match("Jaegwon Kim was a philosopher") is None


def test_build_counts_pairs_and_card(mini_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    summary = build(mini_data_dir, out, "make_dataset.prompts_per_domain=30", "make_dataset.eval_per_domain=2")
    train, heldout = read_jsonl(out / TRAIN_FILE), read_jsonl(out / EVAL_FILE)
    prompts = {r["prompt"]: r for r in train}
    per_domain = Counter(r["domain"] for r in prompts.values())
    assert per_domain == dict.fromkeys(DOMAINS, 30)
    assert Counter(r["domain"] for r in heldout) == dict.fromkeys(DOMAINS, 2)
    assert not set(prompts) & {r["prompt"] for r in heldout}
    assert {r["form"] for r in train} >= {"question", "continuation", "description", "advice", "situation", "rewrite"}
    # ToxiGen: 3 x 3 black pairs (3 dropped, below) + 2 x 2 muslim; ParaDetox: the 3 comments that name a group.
    pairs = [r for r in train if "chosen" in r]
    assert Counter(r["source"].split(":")[0] for r in pairs) == {"toxigen": 6 + 4, "paradetox": 3}
    assert {r["domain"] for r in pairs if r["source"].startswith("paradetox")} == {
        "sexual_orientation",
        "gender_identity",
        "age",
    }
    pair = next(r for r in pairs if r["group"] == "Muslims")
    assert pair["chosen"][0].isupper() and pair["rejected"][0].isupper()  # case is no cue
    assert all(set(r) >= {"prompt", "domain", "group", "terms", "form", "source"} for r in train)

    card = json.loads((out / STATS_FILE).read_text())
    assert card["prompts"] == summary["prompts"] == 330 and card["pairs"] == summary["pairs"] == 13
    assert card["rows"] == len(train) and card["balance"] == 1.0
    assert card["domains"]["religion"] == {"prompts": 30, "pairs": 4, "eval": 2}
    assert card["forms"] == dict(Counter(r["form"] for r in prompts.values()))
    assert card["decontamination"]["dropped_by"]["pairs/realtoxicityprompts"] == 3
    assert "| religion | 30 | 4 | 2 |" in (out / CARD_FILE).read_text()


def test_decontamination_drops_planted_overlaps(mini_data_dir: Path, tmp_path: Path) -> None:
    # Ask for more prompts than there are combinations, so every candidate is examined.
    out = tmp_path / "set"
    build(mini_data_dir, out, "make_dataset.prompts_per_domain=2000")
    train = read_jsonl(out / TRAIN_FILE)
    assert PLANTED_PROMPT not in {r["prompt"] for r in train}
    assert not any(r.get("chosen") == PLANTED_STATEMENT for r in train)
    assert "Are Jewish women good parents?" in {r["prompt"] for r in train}
    dropped = json.loads((out / STATS_FILE).read_text())["decontamination"]["dropped_by"]
    assert dropped == {"prompts/bbq": 1, "pairs/realtoxicityprompts": 3}


def test_build_is_deterministic_for_a_seed(mini_data_dir: Path, tmp_path: Path) -> None:
    small = ("make_dataset.prompts_per_domain=20", "make_dataset.eval_per_domain=2")
    files = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        build(mini_data_dir, tmp_path / name, *small, f"seed={seed}")
        files.append((tmp_path / name / TRAIN_FILE).read_text() + (tmp_path / name / EVAL_FILE).read_text())
    assert files[0] == files[1]
    assert files[0] != files[2]


def test_built_folder_loads_as_prompts_and_as_pairs(mini_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    build(mini_data_dir, out, "make_dataset.prompts_per_domain=30", "make_dataset.eval_per_domain=2")
    grpo = load_prompts(validate(compose_config(["dataset=local", f"dataset.path={out}"])).dataset, seed=0)
    dataset = validate(compose_config(["dataset=local", f"make_dataset.out_dir={out}", "algorithm=dpo"])).dataset
    dpo = load_prompts(dataset, seed=0, pairs_only=True)  # as the trainer loads it for DPO
    assert len(grpo.train) == 330 and len({r["prompt"] for r in grpo.train}) == 330
    assert len(grpo.eval) == 22 and not {r["prompt"] for r in grpo.eval} & {r["prompt"] for r in grpo.train}
    assert len(dpo.train) == 13 and all(r["chosen"] and r["rejected"] for r in dpo.train)


def test_make_dataset_needs_the_data_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data_dir.*BIASGRPO_DATA_DIR"):
        validate(compose_config(["task=make_dataset", f"data_dir={tmp_path / 'missing'}"]))


def test_missing_benchmark_is_an_error(mini_data_dir: Path, tmp_path: Path) -> None:
    (mini_data_dir / "truthfulqa" / "TruthfulQA.csv").unlink()
    with pytest.raises(DataError, match="no TruthfulQA files"):
        build(mini_data_dir, tmp_path / "set")


def test_real_data_build() -> None:
    """The full build from the shared data folder: >= 10,000 prompts, 11 balanced domains, >= 2,000 pairs."""
    root = os.environ.get("BIASGRPO_DATA_DIR", "")
    if not root or not (Path(root) / "holisticbias").is_dir():
        pytest.skip("BIASGRPO_DATA_DIR with the shared data not set")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        summary = build(Path(root), Path(tmp) / "set")
        train = read_jsonl(Path(tmp) / "set" / TRAIN_FILE)
    prompts = {r["prompt"]: r for r in train}
    per_domain = Counter(r["domain"] for r in prompts.values())
    assert summary["prompts"] == len(prompts) >= 10_000
    assert set(per_domain) == set(DOMAINS) and max(per_domain.values()) <= 2 * min(per_domain.values())
    assert summary["pairs"] == sum("chosen" in r for r in train) >= 2_000
    assert len({r["form"] for r in train}) >= 5
    index = build_index(Path(root), 8)
    assert not any(index.match(r[f]) for r in train for f in ("prompt", "chosen", "rejected") if f in r)
