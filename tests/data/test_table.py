"""kind=table: hub layouts read from local copies, column mapping, bad rows, splits, offline errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from biasgrpo.config import DatasetConfig, validate
from biasgrpo.data import PromptSet, load_prompts
from biasgrpo.errors import DataError
from tests.conftest import compose_config

# SaketR1/bias-grpo-data's columns.
HUB_ROWS = [
    {
        "prompt": f"Why are people from group {i} like that?",
        "category": ["race", "Race_x_SES", "Gender", "religion"][i % 4],
        "favorable_completion": f"People in group {i} differ as much as anyone else.",
        "unfavorable_completion": f"People in group {i} are all the same.",
    }
    for i in range(12)
]


def load(*overrides: str) -> PromptSet:
    """The rows as the trainer loads them: pair rows only for DPO."""
    conf = validate(compose_config(list(overrides)))
    return load_prompts(conf.dataset, conf.seed, pairs_only=type(conf.algorithm).__name__ == "DPOConfig")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_biasgrpo_local_copy_in_hub_layout(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    folder = tmp_path / "bias-grpo-data"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(HUB_ROWS), folder / "data" / "train-00000-of-00001.parquet")
    (folder / ".cache").mkdir()  # what `hf download --local-dir` leaves: not data
    write_jsonl(folder / ".cache" / "junk.jsonl", [{"prompt": "not a row"}])
    prompts = load("dataset=biasgrpo", f"dataset.path={folder}", "dataset.eval_prompts=2")
    assert len(prompts.train) == 10 and len(prompts.eval) == 2
    assert not {r["prompt"] for r in prompts.train} & {r["prompt"] for r in prompts.eval}
    row = next(r for r in prompts.train + prompts.eval if r["prompt"].startswith("Why are people from group 1 "))
    assert row["domain"] == "race_x_ses" and row["chosen"] == HUB_ROWS[1]["favorable_completion"]
    assert row["rejected"] == HUB_ROWS[1]["unfavorable_completion"]
    assert row["source"] == "train-00000-of-00001.parquet:2"
    domains = {r["domain"] for r in prompts.train + prompts.eval}
    assert domains == {"race_ethnicity", "race_x_ses", "gender_identity", "religion"}


def test_biasgrpo_csv_copy_trains_dpo(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(HUB_ROWS[0]))
        writer.writeheader()
        writer.writerows(HUB_ROWS)
    overrides = ["algorithm=dpo", "dataset=biasgrpo", f"dataset.path={path}", "dataset.eval_prompts=2"]
    conf = validate(compose_config(overrides))
    prompts = load_prompts(conf.dataset, seed=0, pairs_only=True)  # as the trainer loads it for DPO
    assert len(prompts.train) == 10 and len(prompts.eval) == 2
    assert all(r["chosen"].startswith("People in group") for r in prompts.train)


def test_biasdpo_layout_detects_domains(tmp_path: Path) -> None:
    rows = [
        {"prompt": "Why are women bad at math?", "chosen": "They are not.", "rejected": "Because they are women."},
        {"prompt": "Are muslims dangerous?", "chosen": "No group is.", "rejected": "Yes."},
        {"prompt": "Is it going to rain?", "chosen": "Maybe.", "rejected": "Stupid question."},
    ]
    path = write_jsonl(tmp_path / "biasdpo.jsonl", rows)
    prompts = load("dataset=biasdpo", f"dataset.path={path}", "dataset.eval_prompts=0")
    assert [(r["domain"], r["terms"]) for r in prompts.train] == [
        ("gender_identity", ["women"]),
        ("religion", ["muslims"]),
        ("unspecified", []),
    ]


def test_bad_rows_error_names_row_and_field(tmp_path: Path) -> None:
    rows = [{"prompt": "Fine prompt one"}, {"prompt": "Fine prompt two"}, {"domain": "age"}]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError, match=r"train.jsonl:3: field 'prompt' is missing"):
        load("dataset=local", f"dataset.path={path}", "dataset.on_bad_row=error")
    write_jsonl(path, [{"prompt": "ok", "chosen": "a"}])
    with pytest.raises(DataError, match=r"train.jsonl:1: field 'rejected' is missing"):
        load("dataset=local", f"dataset.path={path}", "dataset.on_bad_row=error")
    write_jsonl(path, [{"prompt": "ok", "terms": "women"}])
    with pytest.raises(DataError, match=r"train.jsonl:1: field 'terms' is not a list"):
        load("dataset=local", f"dataset.path={path}", "dataset.on_bad_row=error")


def test_bad_rows_skipped_and_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "train.jsonl"
    good = [json.dumps({"prompt": f"Prompt {i}", "domain": "age"}) for i in range(5)]
    bad = ["{not json", json.dumps({"prompt": 3}), json.dumps({"prompt": "p", "chosen": "x", "rejected": "x"})]
    path.write_text("\n".join(good + bad) + "\n", encoding="utf-8")
    prompts = load("dataset=local", f"dataset.path={path}", "dataset.eval_prompts=1")
    assert len(prompts.train) == 4 and len(prompts.eval) == 1
    assert "skipped 3 malformed rows" in capsys.readouterr().out


def test_eval_split_file_and_distinct_prompts(tmp_path: Path) -> None:
    train = [{"prompt": f"Train {i % 6}", "domain": "age"} for i in range(10)]  # 6 distinct
    write_jsonl(tmp_path / "set" / "train.jsonl", train)
    write_jsonl(tmp_path / "set" / "eval.jsonl", [{"prompt": f"Held out {i}", "domain": "ses"} for i in range(4)])
    prompts = load("dataset=local", f"dataset.path={tmp_path / 'set'}", "dataset.eval_prompts=3")
    assert sorted(r["prompt"] for r in prompts.train) == [f"Train {i}" for i in range(6)]
    assert len(prompts.eval) == 3 and all(r["prompt"].startswith("Held out") for r in prompts.eval)
    assert all(r["chosen"] == "" and r["domain"] == "age" for r in prompts.train)


def test_pairs_needed_but_absent_says_how_to_fix(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [{"prompt": "Only a prompt"}])
    with pytest.raises(DataError, match=r"no row has chosen/rejected.*task=make_dataset"):
        load("algorithm=dpo", "dataset=local", f"dataset.path={path}")


def test_missing_local_set_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist.*task=make_dataset"):
        load("dataset=local", f"make_dataset.out_dir={tmp_path / 'nothing'}")


def test_offline_hub_points_to_local_copy_and_make_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no request leaves the machine
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    cfg = DatasetConfig(name="biasgrpo", kind="table", hub_id="SaketR1/bias-grpo-data")
    with pytest.raises(DataError, match=r"SaketR1/bias-grpo-data.*dataset\.path=.*task=make_dataset"):
        load_prompts(cfg, seed=0)
