"""Prompt sets. Each row: prompt, domain, group, form, source (and, in pair sets, chosen and
rejected; rows of a table also carry ``terms``, the words that name the group)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from biasgrpo.config import DatasetConfig
from biasgrpo.data.pairs import read_paradetox
from biasgrpo.data.table import Row, read_table
from biasgrpo.data.templates import EVAL_TEMPLATES, GROUPS, TRAIN_TEMPLATES
from biasgrpo.errors import DataError


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


def balanced_sample(rows: list[Row], n: int, seed: int, key: str = "domain") -> list[Row]:
    """``n`` rows drawn round-robin over the values of ``key`` (seeded), so small samples cover every domain."""
    rng = random.Random(seed)
    buckets: dict[str, list[Row]] = {}
    for row in rows:
        buckets.setdefault(row[key], []).append(row)
    for bucket in buckets.values():
        rng.shuffle(bucket)
    out: list[Row] = []
    while len(out) < min(n, len(rows)):
        for bucket in buckets.values():
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


def load_table(cfg: DatasetConfig, seed: int, pairs_only: bool) -> PromptSet:
    """A table's rows: only pair rows when ``pairs_only`` (DPO), else each distinct prompt once.

    Held-out rows come from the table's eval split, or are distinct prompts drawn at random.
    """
    origin = cfg.path or cfg.hub_id
    train, heldout, skipped = read_table(cfg.path, cfg.hub_id, cfg.columns, cfg.on_bad_row)
    if skipped:
        print(f"[biasgrpo] {origin}: skipped {skipped} malformed rows (dataset.on_bad_row=skip)")
    if pairs_only:
        train = [r for r in train if r["chosen"]]
        if not train:
            raise DataError(
                f"{origin}: no row has chosen/rejected completions, and algorithm=dpo (or dataset.pairs_only) "
                f"needs them. Use a pair dataset: dataset=local after task=make_dataset (ToxiGen and ParaDetox "
                f"pairs), dataset=biasgrpo, dataset=biasdpo or dataset=paradetox_pairs"
            )
    else:
        train = list({r["prompt"]: r for r in train}.values())  # GRPO/PPO sample G completions per prompt anyway
    if heldout is None:
        prompts = sorted({r["prompt"] for r in train})
        random.Random(seed).shuffle(prompts)
        held = set(prompts[: cfg.eval_prompts])
        heldout = list({r["prompt"]: r for r in train if r["prompt"] in held}.values())
    else:
        heldout = balanced_sample(heldout, cfg.eval_prompts, seed)
    held = {r["prompt"] for r in heldout}
    train = [r for r in train if r["prompt"] not in held]
    if cfg.max_prompts:
        train = balanced_sample(train, cfg.max_prompts, seed)
    if not train:
        raise DataError(
            f"{origin}: no training rows left after holding out {len(heldout)} prompts (lower dataset.eval_prompts)"
        )
    return PromptSet(train=train, eval=heldout)


def load_prompts(cfg: DatasetConfig, seed: int, pairs_only: bool = False) -> PromptSet:
    """Training and held-out rows of the configured dataset.

    ``pairs_only`` (set for DPO, or by ``dataset.pairs_only``) keeps the rows that carry
    chosen/rejected completions.
    """
    if cfg.kind == "paradetox_pairs":
        return load_pairs(cfg, seed)
    if cfg.kind == "table":
        return load_table(cfg, seed, pairs_only or cfg.pairs_only)
    if cfg.kind != "templates":
        raise DataError(f"dataset.kind={cfg.kind!r} is unknown; use templates, paradetox_pairs or table")
    train = fill(TRAIN_TEMPLATES)
    if cfg.max_prompts:
        train = balanced_sample(train, cfg.max_prompts, seed)
    heldout = balanced_sample(fill(EVAL_TEMPLATES), cfg.eval_prompts, seed)
    overlap = {r["prompt"] for r in train} & {r["prompt"] for r in heldout}
    if overlap:
        raise DataError(f"{len(overlap)} evaluation prompts are also training prompts, e.g. {sorted(overlap)[0]!r}")
    return PromptSet(train=train, eval=heldout)
