"""Decontamination: no training text may share a word n-gram with an evaluation benchmark.

Texts are lower-cased and split into words (letters, digits, inner apostrophes), so
punctuation and case do not hide an overlap. The default n is 8: long enough that
everyday phrases ("what do you think about the") never collide, short enough to catch
a benchmark question pasted inside a longer prompt. One shared n-gram is enough to drop
a text. Most BOLD prompts are 6-7 words, shorter than n; a benchmark text of
``MIN_WORDS`` to n-1 words counts as a match when a training text contains it whole.
Texts under ``MIN_WORDS`` words ("The", "Islam is") are too common to test.

The benchmarks are read from the local data folder (laid out like shared/data): BBQ
contexts and questions, BOLD prompts, RealToxicityPrompts prompts and TruthfulQA
questions (both versions).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from biasgrpo.errors import DataError

MIN_WORDS = 5
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class NGramIndex:
    """Word n-grams of benchmark texts, each remembered with the benchmark it came from.

    Only hashes are stored (Python's ``hash`` of the word tuple, stable within a
    process): the benchmarks hold about a million n-grams and the strings are not needed.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.texts: Counter[str] = Counter()
        """Benchmark texts indexed, per benchmark."""
        self._grams: dict[int, str] = {}
        self._whole: dict[int, dict[int, str]] = {}  # length in words -> hash of a short text -> benchmark

    def add(self, benchmark: str, text: str) -> None:
        w = words(text)
        if len(w) >= self.n:
            for i in range(len(w) - self.n + 1):
                self._grams.setdefault(hash(tuple(w[i : i + self.n])), benchmark)
        elif len(w) >= MIN_WORDS:
            self._whole.setdefault(len(w), {}).setdefault(hash(tuple(w)), benchmark)
        self.texts[benchmark] += 1

    def match(self, text: str) -> str | None:
        """The benchmark ``text`` overlaps, or None when it is clean."""
        w = words(text)
        for length, table in [(self.n, self._grams), *self._whole.items()]:
            for i in range(len(w) - length + 1):
                hit = table.get(hash(tuple(w[i : i + length])))
                if hit:
                    return hit
        return None

    def __len__(self) -> int:
        return len(self._grams) + sum(len(t) for t in self._whole.values())


def _files(root: Path, pattern: str, benchmark: str) -> list[Path]:
    files = sorted(root.glob(pattern))
    if not files:
        raise DataError(
            f"{root / pattern}: no {benchmark} files. Decontamination checks every evaluation benchmark "
            f"(BBQ, BOLD, RealToxicityPrompts, TruthfulQA), so data_dir must hold all four, laid out like shared/data"
        )
    return files


def _strings(tree: object) -> Iterator[str]:
    """Every string in a nested JSON value (BOLD: {group: {page: [prompt, ...]}})."""
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _strings(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _strings(value)


def benchmark_texts(root: Path) -> Iterator[tuple[str, str]]:
    """(benchmark, text) for every prompt, question and context of the four benchmarks."""
    for path in _files(root, "bbq/*.jsonl", "BBQ"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                yield "bbq", row["context"]
                yield "bbq", row["question"]
    for path in _files(root, "bold/prompts/*.json", "BOLD"):
        for text in _strings(json.loads(path.read_text(encoding="utf-8"))):
            yield "bold", text
    for path in _files(root, "realtoxicityprompts/*.jsonl", "RealToxicityPrompts"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield "realtoxicityprompts", json.loads(line)["prompt"]["text"]
    for path in _files(root, "truthfulqa/**/TruthfulQA.csv", "TruthfulQA"):
        with path.open(encoding="utf-8-sig", newline="") as f:  # v1 starts with a byte-order mark
            for row in csv.DictReader(f):
                yield "truthfulqa", row["Question"]


def build_index(root: Path, n: int) -> NGramIndex:
    index = NGramIndex(n)
    for benchmark, text in benchmark_texts(root):
        index.add(benchmark, text)
    return index
