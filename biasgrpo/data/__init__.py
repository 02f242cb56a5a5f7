"""Prompt sets. Each row: prompt, domain, group, form, source."""

from __future__ import annotations

import random
from dataclasses import dataclass

from biasgrpo.config import DatasetConfig
from biasgrpo.data.pairs import read_paradetox
from biasgrpo.data.templates import EVAL_TEMPLATES, GROUPS, TRAIN_TEMPLATES
from biasgrpo.errors import DataError

Row = dict[str, str]


@dataclass(frozen=True)
class PromptSet:
    train: list[Row]
    eval: list[Row]


def fill(templates: list[tuple[str, str]]) -> list[Row]:
    """Every template with every group of every domain, in a fixed order."""
    rows = []
    for domain, groups in GROUPS.items():
        for group in groups:
            for form, template in templates:
                prompt = template.format(group=group)
                rows.append(
                    {
                        "prompt": prompt[0].upper() + prompt[1:],
                        "domain": domain,
                        "group": group,
                        "form": form,
                        "source": "templates",
                    }
                )
    return rows


def balanced_sample(rows: list[Row], n: int, seed: int) -> list[Row]:
    """``n`` rows drawn round-robin over domains (seeded), so small samples cover every domain."""
    rng = random.Random(seed)
    by_domain: dict[str, list[Row]] = {}
    for row in rows:
        by_domain.setdefault(row["domain"], []).append(row)
    for bucket in by_domain.values():
        rng.shuffle(bucket)
    out: list[Row] = []
    while len(out) < min(n, len(rows)):
        for bucket in by_domain.values():
            if bucket and len(out) < n:
                out.append(bucket.pop())
    return out


def load_pairs(cfg: DatasetConfig, seed: int) -> PromptSet:
    """A pair dataset split by source row: held-out pairs never share a row with training."""
    rows, skipped = read_paradetox(cfg.path, cfg.on_bad_row)
    if skipped:
        print(f"[biasgrpo] {cfg.path}: skipped {skipped} malformed rows (dataset.on_bad_row=skip)")
    random.Random(seed).shuffle(rows)
    heldout, train = rows[: cfg.eval_prompts], rows[cfg.eval_prompts :]
    if cfg.max_prompts:
        train = train[: cfg.max_prompts]
    if not train:
        raise DataError(f"{cfg.path}: no training rows left after holding out {cfg.eval_prompts}")
    return PromptSet(train=train, eval=heldout)


def load_prompts(cfg: DatasetConfig, seed: int) -> PromptSet:
    """Training and held-out rows of the configured dataset."""
    if cfg.kind == "paradetox_pairs":
        return load_pairs(cfg, seed)
    if cfg.kind != "templates":
        raise DataError(f"dataset.kind={cfg.kind!r} is unknown; use templates or paradetox_pairs")
    train = fill(TRAIN_TEMPLATES)
    if cfg.max_prompts:
        train = balanced_sample(train, cfg.max_prompts, seed)
    heldout = balanced_sample(fill(EVAL_TEMPLATES), cfg.eval_prompts, seed)
    overlap = {r["prompt"] for r in train} & {r["prompt"] for r in heldout}
    if overlap:
        raise DataError(f"{len(overlap)} evaluation prompts are also training prompts, e.g. {sorted(overlap)[0]!r}")
    return PromptSet(train=train, eval=heldout)
