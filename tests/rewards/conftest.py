"""A small data folder laid out like shared/data, for reward-model training tests."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

GROUPS = ("martians", "venusians")


def write_data_dir(root: Path, rows: int = 40) -> Path:
    """ParaDetox, ToxiGen and Davidson files with an easy contrast: kind words vs insults."""
    (root / "paradetox").mkdir(parents=True)
    lines = ["toxic\tneutral1\tneutral2\tneutral3"]
    lines += [f"shut up you stupid idiot number {i}\tplease be kind, my friend number {i}\t\t" for i in range(rows)]
    lines.append(lines[1])  # a repeated row: it must land in the same split as its twin
    (root / "paradetox" / "paradetox.tsv").write_text("\n".join(lines) + "\n")
    for group in GROUPS:
        folder = root / "toxigen_demonstrations" / "aliens"
        folder.mkdir(parents=True, exist_ok=True)
        hate = [f"all {group} are stupid filthy idiots, reason {i}" for i in range(rows // 4)]
        neutral = [f"many {group} are kind and helpful neighbours, story {i}" for i in range(rows // 4)]
        (folder / f"hate_{group}_sentences.txt").write_text("\n".join(hate) + "\n")
        (folder / f"neutral_{group}.txt").write_text("\n".join(neutral) + "\n\n")
    (root / "davidson_hate_offensive").mkdir()
    with (root / "davidson_hate_offensive" / "labeled_data.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"])
        for i in range(rows):
            writer.writerow([2 * i, 3, 0, 0, 3, 2, f"what a lovely day\nat the park &amp; the sea {i}"])
            writer.writerow([2 * i + 1, 3, 0, 2, 1, 1, f"shut up stupid idiot {i}"])
    return root


@pytest.fixture
def rm_data_dir(tmp_path: Path) -> Path:
    return write_data_dir(tmp_path / "data")
