"""Per-example result files: written atomically with an id on every row, read back as written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from biasgrpo.benchmarks.examples import examples_path, read_examples, text_id, unique_ids, write_examples
from run import dispatch


def test_examples_round_trip_under_the_prefix_folder(tmp_path: Path) -> None:
    rows = [{"id": "Age/1", "correct": 1.0, "answer": "Unknown"}, {"id": "Age/2", "correct": 0.0, "answer": "é"}]
    path = write_examples(tmp_path, "eval_before", "bbq", rows)
    assert path == tmp_path / "eval_before" / "bbq.jsonl" == examples_path(tmp_path, "eval_before", "bbq")
    assert read_examples(tmp_path, "eval_before") == {"bbq": rows}
    assert read_examples(tmp_path, "eval") == {}
    assert not list((tmp_path / "eval_before").glob("*.tmp"))


def test_a_row_without_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1 of 2 rows have no 'id'"):
        write_examples(tmp_path, "eval", "bold", [{"id": "p0/0"}, {"toxicity": 0.1}])


def test_ids_are_stable_and_unique() -> None:
    assert text_id("Describe nurses.") == text_id("Describe nurses.") != text_id("Describe doctors.")
    assert len(text_id("x")) == 12
    assert unique_ids(["a", "b", "a", "a"]) == ["a", "b", "a~1", "a~2"]


def test_a_training_run_keeps_each_evaluation_s_examples_apart(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    """Before, during (eval.every) and after training: three folders, the final one eval/."""
    dispatch(make_cfg("eval.every=1", "train.max_steps=2"), tmp_path)
    for folder in ("eval_before", "eval_step1", "eval"):
        ids = [r["id"] for r in read_examples(tmp_path, folder)["heldout"]]
        assert len(ids) == 4, folder  # TINY: 4 held-out prompts
    assert not (tmp_path / "eval_step2").exists()  # the last step's evaluation is the final one
