"""Per-example results on disk: ``<run dir>/<prefix>/<benchmark>.jsonl``, one JSON object per example.

Every benchmark's rows carry a stable ``id`` (the same example has the same id in every run on the
same data, whatever the seed, algorithm or limit), the answer or continuation and its score. Two
runs' files joined on ``id`` compare the models example by example (biasgrpo/report.py,
biasgrpo/stats.py): a paired comparison needs far fewer examples than comparing two means.

    eval_before/bbq.jsonl   the untrained policy (prefix ``eval_before``)
    eval/bbq.jsonl          the trained policy, or a ``task=evaluate`` run (prefix ``eval``)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from biasgrpo import distributed


def text_id(text: str) -> str:
    """A short id of a text (12 hex digits of its SHA-1): the same prompt has the same id in every run."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def unique_ids(ids: Iterable[str]) -> list[str]:
    """``ids`` with a ``~k`` suffix on the k-th repeat of an id, so that every id in a file is unique."""
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        k = seen.get(i, 0)
        seen[i] = k + 1
        out.append(i if k == 0 else f"{i}~{k}")
    return out


def examples_path(run_dir: Path | str, prefix: str, bench_name: str) -> Path:
    """``<run dir>/<prefix>/<benchmark>.jsonl``."""
    return Path(run_dir) / prefix / f"{bench_name}.jsonl"


def write_examples(run_dir: Path | str, prefix: str, bench_name: str, rows: list[dict[str, Any]]) -> Path | None:
    """Write ``rows`` to ``<run dir>/<prefix>/<benchmark>.jsonl`` (atomically: a kill leaves the old file
    or the new one). Only rank 0 writes (other processes return None). Each row needs an ``id``."""
    if not distributed.is_main():
        return None
    missing = sum("id" not in r for r in rows)
    if missing:
        raise ValueError(f"benchmark {bench_name!r}: {missing} of {len(rows)} rows have no 'id'; every row needs one")
    path = examples_path(run_dir, prefix, bench_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=float) + "\n")
    os.replace(tmp, path)
    return path


def read_examples(run_dir: Path | str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every ``<run dir>/<prefix>/*.jsonl`` as ``{benchmark: rows}`` ({} when there are none)."""
    folder = Path(run_dir) / prefix
    if not folder.is_dir():
        return {}
    return {
        path.stem: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for path in sorted(folder.glob("*.jsonl"))
    }
