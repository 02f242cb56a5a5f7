"""ParaDetox pairs: parsing, bad rows, and the split by source row."""

from __future__ import annotations

from pathlib import Path

import pytest

from biasgrpo.config import DatasetConfig
from biasgrpo.data import load_prompts
from biasgrpo.data.pairs import read_paradetox
from biasgrpo.errors import DataError


def test_pairs_are_rewrite_prompts_with_chosen_and_rejected(pairs_file: Path) -> None:
    rows, skipped = read_paradetox(pairs_file, "skip")
    assert len(rows) == 24 and skipped == 2
    row = rows[0]
    assert row["rejected"] == "shut up you stupid clown number 0"
    assert row["chosen"] == "please stop talking, friend number 0"
    assert row["rejected"] in row["prompt"] and row["source"] == "paradetox:2"


def test_bad_row_error_names_line_and_field(pairs_file: Path) -> None:
    with pytest.raises(DataError, match=r"paradetox.tsv:26: toxic is empty"):
        read_paradetox(pairs_file, "error")


def test_wrong_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(DataError, match="expected a header"):
        read_paradetox(path, "skip")


def test_split_never_shares_a_source_row(pairs_file: Path) -> None:
    cfg = DatasetConfig(name="p", kind="paradetox_pairs", path=str(pairs_file), eval_prompts=5)
    prompts = load_prompts(cfg, seed=0)
    assert len(prompts.eval) == 5 and len(prompts.train) == 19
    assert not {r["source"] for r in prompts.train} & {r["source"] for r in prompts.eval}


def test_real_paradetox_file_when_available() -> None:
    import os

    root = os.environ.get("BIASGRPO_DATA_DIR", "")
    path = Path(root) / "paradetox" / "paradetox.tsv"
    if not root or not path.exists():
        pytest.skip("BIASGRPO_DATA_DIR with paradetox/ not set")
    rows, skipped = read_paradetox(path, "skip")
    # The data README counts 11,935 data lines, 6 of them malformed or short; another 97
    # have a "rewrite" identical to the toxic text, which is no preference at all.
    assert len(rows) + skipped == 11_935
    assert skipped == 6 + 97
