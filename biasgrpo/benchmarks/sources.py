"""Where benchmark data comes from: the local data folder or the hub, and the examples a limit keeps.

Every benchmark reads the same two sources (DESIGN.md, "Where data comes from"): a local folder
laid out like ``shared/data`` (``data_dir``, env BIASGRPO_DATA_DIR) or the Hugging Face copy.
Both are read when the benchmark is built, before any model loads, so a missing file stops the
run at once with the way to fix it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, TypeVar

from biasgrpo.errors import DataError

T = TypeVar("T")
# The examples a limit keeps are drawn with this seed, never the run's: runs with different seeds
# or algorithms, and the evaluations before and after training, see the same examples.
SAMPLE_SEED = 0


def use_local(source: str, data_dir: str) -> bool:
    """True for the local copy, False for the hub (``source`` is auto | local | hub)."""
    return source == "local" or (source == "auto" and bool(data_dir))


def data_source(source: str, data_dir: str, relative: str, hub_id: str) -> str:
    """Where a benchmark's data comes from, in words for the run's summary: ``local:<path>`` or ``hub:<id>``."""
    return f"local:{Path(data_dir) / relative}" if use_local(source, data_dir) else f"hub:{hub_id}"


def local_path(data_dir: str, relative: str, benchmark: str) -> Path:
    """``data_dir/relative``, or a DataError naming BIASGRPO_DATA_DIR and the hub option."""
    path = Path(data_dir) / relative
    if not data_dir or not path.exists():
        raise DataError(
            f"benchmark {benchmark!r} reads {relative} under data_dir, but {str(path)!r} does not exist. "
            f"Set BIASGRPO_DATA_DIR (or data_dir=) to a folder laid out like shared/data, or read the hub "
            f"copy with benchmark.{benchmark}.source=hub (needs network)"
        )
    return path


def hub_rows(benchmark: str, hub_id: str, config: str | None, split: str) -> list[dict[str, Any]]:
    """Every row of a Hugging Face dataset split, or a DataError naming both ways to fix it."""
    import datasets

    try:
        return list(datasets.load_dataset(hub_id, config, split=split))
    except Exception as err:  # offline, gated, renamed: all mean "no data", said the same way
        raise DataError(
            f"benchmark {benchmark!r} could not read the hub dataset {hub_id}{f' ({config})' if config else ''}, "
            f"split {split}: {err}\n"
            f"  - with network: check that this machine reaches huggingface.co (HF_HUB_OFFLINE unset);\n"
            f"  - offline: set BIASGRPO_DATA_DIR (or data_dir=) to a folder laid out like shared/data and "
            f"benchmark.{benchmark}.source=local (or auto)"
        ) from err


class Subsample(Generic[T]):
    """The examples a benchmark evaluates: at most ``limit`` per category of the full set (0 = all).

    Built with the benchmark, it prints how many it keeps, loudly when it is not the full set, and
    its ``figures`` (``n_examples``, ``n_full``, ``limit``) go beside the benchmark's own, so no one
    reads a subsample's figures as the full set's.
    """

    def __init__(
        self, name: str, rows: list[T], category: Callable[[T], Hashable], limit: int, unit: str, per: str
    ) -> None:
        self.rows = per_category(rows, category, limit)
        self.n_full, self.limit = len(rows), limit
        n_categories = len({category(r) for r in rows})
        if limit and len(self.rows) < len(rows):
            print(
                f"[biasgrpo] {name}: SUBSAMPLE, {len(self.rows):,} of {len(rows):,} {unit} (limit={limit}"
                f"{f' per {per}, {n_categories} of them' if n_categories > 1 else ''}); "
                f"set benchmark.{name}.limit=0 for the full set",
                flush=True,
            )
        else:
            print(f"[biasgrpo] {name}: the full set, {len(rows):,} {unit}", flush=True)

    @property
    def figures(self) -> dict[str, float]:
        return {"n_examples": float(len(self.rows)), "n_full": float(self.n_full), "limit": float(self.limit)}


def per_category(rows: list[T], category: Callable[[T], Hashable], limit: int) -> list[T]:
    """At most ``limit`` rows of each category (0 = all), drawn with a fixed seed, in source order."""
    if not limit:
        return rows
    groups: dict[Hashable, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(category(row), []).append(i)
    rng = random.Random(SAMPLE_SEED)
    keep = sorted(i for indices in groups.values() for i in rng.sample(indices, min(limit, len(indices))))
    return [rows[i] for i in keep]
