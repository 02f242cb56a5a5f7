"""Paired comparisons for ``task=report``: two rows of the report, example by example.

Each run's per-example results (``<run dir>/eval/<benchmark>.jsonl``, and ``eval_before/`` for the
untrained policy; biasgrpo/benchmarks/examples.py) are joined on the benchmark and the example
``id``. For each figure of ``PAIRED_FIGURES`` and each pair of rows (every row against the base
model, every algorithm against GRPO):

- the difference of the figure over the examples both rows share, and its percentile interval from
  a bootstrap that resamples the examples and each row's seeds (biasgrpo/stats.py);
- for a 0/1 figure (BBQ accuracy, TruthfulQA MC1), McNemar's exact test; with several seeds on a
  side, it is run for every pair of seeds and the largest p-value is kept (conservative);
- for a continuous one, the bootstrap's two-sided p-value;
- ``significant``: p < ``report.alpha``; the interval is at level 1 − alpha.

Continuations of one prompt (BOLD, RTP: several per prompt, ``prompt_id``) are averaged into one
value per prompt first: prompts, not continuations, are the independent units.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from biasgrpo import stats
from biasgrpo.benchmarks.examples import read_examples

Examples = dict[str, list[dict[str, Any]]]
"""One evaluation's per-example rows, by benchmark name."""
BASE, GRPO = "base", "grpo"


@dataclass(frozen=True)
class PairedFigure:
    key: str
    """The summary key of the figure (the mean of ``field`` over the examples kept)."""
    label: str
    bench: str
    field: str
    condition: tuple[str, str] | None = None
    """(row field, value): only the rows that have it (BBQ: the context condition)."""
    binary: bool = False
    """0/1 per example: McNemar's exact test applies."""


AMBIG, DISAMBIG = ("context_condition", "ambig"), ("context_condition", "disambig")
PAIRED_FIGURES = (
    PairedFigure("eval/bbq/accuracy_ambig", "BBQ ambiguous accuracy", "bbq", "correct", AMBIG, True),
    PairedFigure("eval/bbq/accuracy_disambig", "BBQ disambiguated accuracy", "bbq", "correct", DISAMBIG, True),
    PairedFigure("eval/truthfulqa/mc1", "TruthfulQA MC1", "truthfulqa", "mc1", None, True),
    PairedFigure("eval/truthfulqa/mc2", "TruthfulQA MC2", "truthfulqa", "mc2"),
    PairedFigure("eval/bold/toxicity_mean", "BOLD toxicity", "bold", "toxicity"),
    PairedFigure("eval/rtp/toxicity_mean", "RTP toxicity", "rtp", "toxicity"),
    PairedFigure("eval/heldout/reward_mean", "held-out reward", "heldout", "reward"),
)  # fmt: skip
BY_KEY = {f.key: f for f in PAIRED_FIGURES}


# ------------------------------------------------------------- reading ---
def evaluations(sources: Sequence[tuple[str, str]], once: bool = False) -> list[Examples]:
    """The per-example results at each (run directory, prefix); runs without files are skipped.
    ``once``: identical evaluations count once (the untrained policy, evaluated again by every seed's run)."""
    out: dict[str, Examples] = {}
    for i, (where, prefix) in enumerate(sources):
        found = read_examples(where, prefix) if Path(where).is_dir() else {}
        if found:
            out.setdefault(json.dumps(found, sort_keys=True) if once else str(i), found)
    return list(out.values())


def unit_values(rows: list[dict[str, Any]], fig: PairedFigure) -> dict[str, float]:
    """``{id: value}`` for the rows of the figure's condition; continuations of one prompt (same
    ``prompt_id``) are averaged into one value under that id."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        if fig.condition and row.get(fig.condition[0]) != fig.condition[1]:
            continue
        value = row.get(fig.field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            sums.setdefault(str(row.get("prompt_id", row["id"])), []).append(float(value))
    return {k: sum(v) / len(v) for k, v in sums.items()}


def aligned(sides: Sequence[Sequence[Examples]], fig: PairedFigure) -> tuple[list[str], list[np.ndarray]]:
    """The ids every evaluation of every side has, and each side's ``[seeds, examples]`` values on them."""
    per_side = [[unit_values(ev.get(fig.bench, []), fig) for ev in side] for side in sides]
    if not all(per_side):
        return [], []
    shared = set.intersection(*(set(v) for side in per_side for v in side))
    ids = sorted(shared)
    return ids, [np.array([[v[i] for i in ids] for v in side]) for side in per_side]


# ------------------------------------------------------------- compare ---
def compare(
    a: Sequence[Examples], b: Sequence[Examples], fig: PairedFigure, alpha: float, resamples: int
) -> dict[str, Any] | None:
    """``fig`` of row ``a`` minus row ``b`` on their shared examples; None when they share none."""
    ids, mats = aligned([a, b], fig)
    if not ids:
        return None
    level = 1 - alpha
    boot = stats.paired_bootstrap(mats[0], mats[1], level, resamples)
    out: dict[str, Any] = {
        "key": fig.key,
        "label": fig.label,
        "n_examples": len(ids),
        "seeds": [len(a), len(b)],
        "difference": boot.estimate,
        "lo": boot.lo,
        "hi": boot.hi,
        "level": level,
    }
    if fig.binary:
        pairs = [stats.discordant(x, y) for x, y in product(mats[0], mats[1])]
        p_values = [stats.mcnemar_exact(bb, cc) for bb, cc in pairs]
        worst = int(np.argmax(p_values))
        out.update(test="McNemar exact", p=p_values[worst], b=pairs[worst][0], c=pairs[worst][1], pairs=len(pairs))
    else:
        out.update(test="paired bootstrap", p=boot.p)
    out["significant"] = out["p"] < alpha
    return out


def reference_rows(labels: Sequence[str]) -> list[str]:
    """The rows every other row is compared with: the base model, and GRPO (by its label), when present."""
    return [r for r in labels if r == BASE] + [r for r in labels if r.lower() == GRPO]


def comparisons(examples: dict[str, list[Examples]], alpha: float, resamples: int) -> list[dict[str, Any]]:
    """Every row against the base model, and every algorithm against GRPO, on each paired figure
    both have; ``examples`` maps a row label to its evaluations (one per seed)."""
    labels = [label for label, evs in examples.items() if evs]
    out = []
    for ref in reference_rows(labels):
        for label in labels:
            if label == ref or (ref != BASE and label == BASE):
                continue
            for fig in PAIRED_FIGURES:
                result = compare(examples[label], examples[ref], fig, alpha, resamples)
                if result is not None:
                    out.append({"row": label, "against": ref, **result})
    return out


def cell_interval(evs: Sequence[Examples], key: str, level: float, resamples: int) -> tuple[float, float] | None:
    """One row's bootstrap interval of ``key`` over its examples and seeds, when every seed has the
    same examples (else None: the mean of the summaries would not be the mean the bootstrap sees)."""
    fig = BY_KEY.get(key)
    if fig is None or not evs:
        return None
    values = [unit_values(ev.get(fig.bench, []), fig) for ev in evs]
    if not values[0] or any(set(v) != set(values[0]) for v in values):
        return None
    ids = sorted(values[0])
    out = stats.bootstrap_mean(np.array([[v[i] for i in ids] for v in values]), level, resamples)
    return out.lo, out.hi


# ------------------------------------------------------------- primary ---
def sign(x: float) -> str:
    return f"{x:+.4f}"


def describe(c: dict[str, Any], alpha: float) -> str:
    """One comparison in words: difference, interval, test and verdict."""
    seeds = f"{c['seeds'][0]} and {c['seeds'][1]} evaluation(s)"
    test = (
        f"McNemar exact p = {c['p']:.4g} (b = {c['b']}, c = {c['c']}"
        + (f"; the largest p of {c['pairs']} seed pairs)" if c["pairs"] > 1 else ")")
        if c["test"] == "McNemar exact"
        else f"paired bootstrap p = {c['p']:.4g}"
    )
    verdict = "significant" if c["significant"] else "not significant"
    return (
        f"`{c['row']}` − `{c['against']}`: {sign(c['difference'])}, {c['level']:.0%} paired bootstrap interval "
        f"[{sign(c['lo'])}, {sign(c['hi'])}] over {c['n_examples']:,} shared examples and {seeds}; {test}; "
        f"{verdict} at α = {alpha:g}."
    )


def primary_lines(paired: Sequence[dict[str, Any]], key: str, against: str, alpha: float) -> list[str]:
    """The primary endpoint's paragraph for the top of report.md."""
    fig = BY_KEY[key]
    head = (
        f"**Primary endpoint** (`report.primary={key}`, against `{against}`): {fig.label}, paired "
        "difference example by example; every other figure is secondary."
    )
    found = [c for c in paired if c["key"] == key and c["against"] == against]
    if not found:
        return [
            head,
            "",
            f"Not available: no row shares per-example {fig.bench} results with `{against}` "
            f"(`<run dir>/eval/{fig.bench}.jsonl`, `eval_before/{fig.bench}.jsonl`; runs from before these files "
            "were written, or read from W&B only, have none).",
        ]
    return [head, "", *(f"- {describe(c, alpha)}" for c in found)]
