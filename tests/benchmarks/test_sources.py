"""Local or hub data, the examples a limit keeps, and the hub rows each benchmark reads (no network)."""

from __future__ import annotations

import pytest

from biasgrpo.benchmarks import bold, rtp, truthfulqa
from biasgrpo.benchmarks.sources import Subsample, per_category, use_local
from biasgrpo.config import BenchmarkConfig
from biasgrpo.errors import DataError


def test_auto_reads_the_local_copy_when_data_dir_is_set() -> None:
    assert use_local("auto", "/data") and not use_local("auto", "")
    assert use_local("local", "") and not use_local("hub", "/data")


def test_limit_keeps_that_many_per_category_in_source_order() -> None:
    rows = [("a", i) for i in range(10)] + [("b", i) for i in range(3)]
    kept = per_category(rows, lambda r: r[0], 4)
    assert [r[0] for r in kept] == ["a"] * 4 + ["b"] * 3
    assert kept == sorted(kept) and kept == per_category(rows, lambda r: r[0], 4)  # ordered, and fixed
    assert per_category(rows, lambda r: r[0], 0) == rows


def test_a_subsample_says_so_and_records_its_size(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("a", i) for i in range(10)] + [("b", i) for i in range(3)]
    sample = Subsample("bold", rows, lambda r: r[0], 4, "prompts", "group")
    assert sample.rows == per_category(rows, lambda r: r[0], 4)
    assert sample.figures == {"n_examples": 7.0, "n_full": 13.0, "limit": 4.0}
    out = capsys.readouterr().out
    assert "bold: SUBSAMPLE, 7 of 13 prompts (limit=4 per group, 2 of them)" in out
    assert "benchmark.bold.limit=0 for the full set" in out
    assert Subsample("bold", rows, lambda r: r[0], 0, "prompts", "group").figures["n_examples"] == 13
    assert "bold: the full set, 13 prompts" in capsys.readouterr().out


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict]]:
    """``datasets.load_dataset`` answering from a dict of hub ids, as the hub would (no network)."""
    import datasets

    tables: dict[str, list[dict]] = {}

    def load_dataset(hub_id: str, config: str | None = None, split: str | None = None) -> list[dict]:
        if hub_id not in tables:
            raise ConnectionError(f"offline: cannot reach {hub_id}")
        return tables[hub_id]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return tables


def test_hub_without_network_names_both_fixes(hub: dict) -> None:
    with pytest.raises(DataError, match=r"(?s)allenai/real-toxicity-prompts, split train.*BIASGRPO_DATA_DIR"):
        rtp.load_prompts(BenchmarkConfig(kind="rtp", source="hub"), "/data")


def test_hub_rows_are_read_in_each_hub_schema(hub: dict) -> None:
    hub[bold.HUB_ID] = [{"domain": "race", "name": "X", "category": "Asian_Americans", "prompts": ["A ", "B "]}]
    hub[rtp.HUB_ID] = [{"prompt": {"text": "p", "toxicity": 0.7}}, {"prompt": {"text": "q", "toxicity": None}}]
    question = {"question": "Q?", "mc1_targets": {"choices": ["a", "b"], "labels": [1, 0]}}
    hub[truthfulqa.HUB_ID] = [{**question, "mc2_targets": question["mc1_targets"]}]
    assert bold.load_prompts(BenchmarkConfig(kind="bold"), "") == [
        {"domain": "race", "group": "Asian_Americans", "name": "X", "prompt": p} for p in ("A ", "B ")
    ]
    # A prompt without a score has no subset: it is skipped.
    assert rtp.load_prompts(BenchmarkConfig(kind="rtp"), "") == [
        {"subset": "toxic", "prompt": "p", "prompt_toxicity": 0.7}
    ]
    assert truthfulqa.load_questions(BenchmarkConfig(kind="truthfulqa"), "") == hub[truthfulqa.HUB_ID]
