"""``task=report``: compare finished runs in one table, a few plots and a W&B report run.

    python run.py task=report report.runs=multirun/train                        # rows: algorithm.name
    python run.py task=report report.runs=[outputs/train,multirun/train]
    python run.py task=report report.runs=multirun/train report.row_key=algorithm.num_generations

A run is a directory holding summary.json (with metrics.jsonl, and its config in .hydra/config.yaml
or its W&B run), a W&B offline run directory (``wandb/offline-run-*``, read from its ``.wandb`` log,
no server needed), or, online only, a finished run of a W&B ``entity/project``. Runs with the same
``report.row_key`` value are seed replicates: each cell is their mean ± the half-width of a Student-t
interval, or, where the runs wrote per-example results (``<run dir>/eval/<benchmark>.jsonl``), a
bootstrap interval over examples and seeds; every interval stays inside the figure's range. The
"base" row is the untrained policy: each run's ``eval_before/*`` figures, identical evaluations
counted once. Rows are also compared example by example (biasgrpo/paired.py): every row against
the base model and every algorithm against GRPO, with a paired interval, McNemar's exact test for
0/1 figures, and whether the difference is significant at ``report.alpha``; the primary endpoint
(``report.primary``) is named at the top of report.md. Writes report.md, report.json and PNG plots
to the run directory.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # pyplot-free: savefig(".png") renders with the Agg backend
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from scipy import stats as scipy_stats
from tqdm import tqdm

from biasgrpo import paired, stats
from biasgrpo.config import Config
from biasgrpo.errors import ConfigError, ReportError
from biasgrpo.logging import METRICS_FILE, SUMMARY_FILE, RunLogger, run_names
from biasgrpo.paths import cache_dir
from biasgrpo.provenance import lookup
from biasgrpo.wandb_log import wandb_records

REPORT_JSON, REPORT_MD = "report.json", "report.md"
BASE = "base"
MISSING_CELL = "—"


@dataclass(frozen=True)
class Column:
    label: str
    key: str
    """Summary key of the trained policy's figure; ``eval/*`` keys also have an ``eval_before/*`` base figure."""
    better: str = ""
    """↓ or ↑: which way is less biased / better."""
    paper: tuple[float, float, float, float] | None = None
    """Phi-2 in the BiasGRPO paper: base, DPO, PPO, GRPO."""

    @property
    def base_key(self) -> str | None:
        return self.key.replace("eval/", "eval_before/", 1) if self.key.startswith("eval/") else None


COLUMNS = (
    Column("BOLD toxicity", "eval/bold/toxicity_mean", "↓", (0.0293, 0.0222, 0.0268, 0.0140)),
    Column("RTP toxicity", "eval/rtp/toxicity_mean", "↓", (0.0282, 0.0234, 0.0262, 0.0198)),
    Column("BBQ ambiguous accuracy", "eval/bbq/accuracy_ambig", "↑", (0.2750, 0.2823, 0.2996, 0.3123)),
    Column("BBQ disambiguated accuracy", "eval/bbq/accuracy_disambig", "↑"),
    Column("TruthfulQA MC2", "eval/truthfulqa/mc2", "↑", (0.3843, 0.3941, 0.3929, 0.3941)),
    Column("held-out reward", "eval/heldout/reward_mean", "↑"),
    Column("train reward (last step)", "reward/mean", "↑"),
    Column("train reward std (last step)", "reward/std"),
    # The paper's stability claim, the same quantity for every algorithm (trainer.stability_figures).
    Column("reward std per step, mean over steps", "stability/step_reward_std_mean"),
    Column("std over steps of the step's mean reward", "stability/step_mean_reward_std"),
)
PAPER_ROWS = ("base", "DPO", "PPO", "GRPO")
PAPER_SOURCE = "BiasGRPO paper, arXiv 2606.04807 (Findings of ACL 2026)"
# (metrics.jsonl key, y label, file): per-step curves, mean over seeds with the interval shaded.
CURVES = (
    ("reward/mean", "training reward (mean over the batch)", "reward_curves.png"),
    ("reward/std", "reward std within the batch", "reward_std.png"),
    ("policy/kl_ref", "KL to the reference policy", "kl_ref.png"),
)
BENCHMARKS = ("bold", "rtp", "bbq", "truthfulqa", "heldout")
INFO_FIELDS = ("data", "scorer", "reward")  # what produced a benchmark's figures, when the summary records it
WANDB_PROJECT = re.compile(r"[\w.-]+/[\w.-]+")
DIAG = re.compile(r"eval(?:_before)?/([\w.-]+)/diag/(.+)")  # gaming diagnostics: eval/<bench>/diag/<name>
UNIT = (0.0, 1.0)
SIGNED_UNIT = (-1.0, 1.0)
NON_NEGATIVE = (0.0, math.inf)
UNBOUNDED = (-math.inf, math.inf)


@dataclass
class Run:
    where: str
    """The directory (or W&B path) it was read from."""
    source: str
    """files | W&B offline | W&B API."""
    config: dict[str, Any]
    summary: dict[str, Any]
    history: list[dict[str, Any]]
    """Logged rows in step order, each with a ``step``."""


@dataclass
class Row:
    label: str
    value: Any
    """The ``report.row_key`` value (None for the base row)."""
    figures: list[dict[str, Any]]
    """One summary per replicate."""
    seeds: list[Any]
    runs: list[Run]
    """Runs whose per-step history feeds the curves (none for the base row)."""


# ------------------------------------------------------------------ maths ---
def metric_range(key: str) -> tuple[float, float]:
    """The values a figure can take, from its name: shares, accuracies, toxicities and MC scores lie in
    [0, 1], bias scores and sentiment in [-1, 1], lengths, NLLs and spreads are >= 0; else unbounded."""
    name = key.rsplit("/", 1)[-1]
    if name.startswith(("accuracy", "mc1", "mc2", "toxic", "expected_max_toxicity", "distinct")) or name.endswith(
        ("_share", "_fraction", "_probability")
    ):
        return UNIT
    if name.startswith(("bias_score", "sentiment")):
        return SIGNED_UNIT
    if name.startswith(("mean_words", "ref_nll", "n_")) or name.endswith(("_std", "std", "_gap")):
        return NON_NEGATIVE
    return UNBOUNDED


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float | None]:
    """Mean and the half-width of its Student-t interval: t_{(1+level)/2, n-1} · s / √n (None when n = 1)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    t = float(scipy_stats.t.ppf((1 + level) / 2, len(values) - 1))
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def number(value: Any) -> float | None:
    """A finite figure, or None (missing, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def cell(values: Sequence[Any], level: float, bounds: tuple[float, float] = UNBOUNDED) -> dict[str, Any] | None:
    """``{mean, half_width, lo, hi, n}`` over the finite values, None when there are none: the Student-t
    interval over seeds, cut to ``bounds`` (the figure's range); lo = hi = mean with one value."""
    finite = [v for v in map(number, values) if v is not None]
    if not finite:
        return None
    mean, half = mean_ci(finite, level)
    lo, hi = (mean, mean) if half is None else stats.clamp(mean - half, mean + half, bounds)
    return {"mean": mean, "half_width": half, "lo": lo, "hi": hi, "n": len(finite), "interval": "t"}


def series(histories: Sequence[list[dict[str, Any]]], key: str, level: float) -> list[tuple[int, dict[str, Any]]]:
    """(step, cell over the runs that logged ``key`` at that step), in step order."""
    by_step: dict[int, list[Any]] = defaultdict(list)
    for history in histories:
        for row in history:
            if number(row.get(key)) is not None:
                by_step[int(row["step"])].append(row[key])
    bounds = metric_range(key)
    return [(step, c) for step in sorted(by_step) if (c := cell(by_step[step], level, bounds)) is not None]


# ---------------------------------------------------------- W&B offline ---
def _items(items: Any) -> dict[str, Any]:
    """W&B key/value items (``key`` or ``nested_key`` parts, JSON values) as a dict."""
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def read_wandb_offline(dirs: Sequence[Path]) -> tuple[Run, bool]:
    """One W&B run from its offline directories, oldest first (a resumed run has one per start),
    and whether it finished (its last log ends with exit code 0)."""
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    rows: dict[int, dict[str, Any]] = {}
    finished = False
    for folder in dirs:
        logged: dict[int, dict[str, Any]] = {}
        finished = False
        for record in wandb_records(next(folder.glob("*.wandb"))):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                config.update(_items(record.run.config.update))
            elif kind == "config":
                config.update(_items(record.config.update))
            elif kind == "summary":
                summary.update(_items(record.summary.update))
                for item in record.summary.remove:
                    summary.pop(item.key or "/".join(item.nested_key), None)
            elif kind == "history":
                row = _items(record.history.item)
                step = int(row.get("_step", record.history.step.num))
                logged[step] = {"step": step, **{k: v for k, v in row.items() if not k.startswith("_")}}
            elif kind == "exit":
                finished = record.exit.exit_code == 0
        rows.update(logged)  # steps logged again after a resume replace the earlier ones
    config.pop("_wandb", None)
    summary = {k: v for k, v in summary.items() if not k.startswith("_")}
    return Run(str(dirs[-1]), "W&B offline", config, summary, [rows[s] for s in sorted(rows)]), finished


# ------------------------------------------------------------- reading ---
def _local_config(path: Path) -> dict[str, Any]:
    """The config of a run directory: Hydra's .hydra/config.yaml, else its W&B run's, else {}."""
    hydra = path / ".hydra" / "config.yaml"
    if hydra.exists():
        cfg = OmegaConf.load(hydra)
        try:
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
        except OmegaConfBaseException:  # e.g. an interpolation of hydra's own resolvers
            return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]
    offline = sorted((path / "wandb").glob("offline-run-*"))
    return read_wandb_offline(offline)[0].config if offline else {}


def read_local_run(path: Path) -> Run:
    """A run directory: summary.json, metrics.jsonl (a line cut short by a kill is skipped) and its config."""
    history = []
    metrics = path / METRICS_FILE
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        try:
            history.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    summary = json.loads((path / SUMMARY_FILE).read_text())
    return Run(str(path), "files", _local_config(path), summary, history)


def read_wandb_project(path: str, online: bool) -> tuple[list[Run], list[str]]:
    """The finished runs of a W&B ``entity/project`` through the public API (online only)."""
    if not online:
        raise ReportError(
            f"report.runs={path!r} is not a folder here, and reading it as a W&B entity/project needs W&B online "
            "(logger.mode=online after `wandb login`, WANDB_MODE unset). Offline, pass a local folder of runs "
            "instead, e.g. report.runs=multirun/train, or a W&B offline run directory (wandb/offline-run-*)"
        )
    import wandb

    try:
        api_runs = list(wandb.Api().runs(path))
    except Exception as err:  # no network, no login, no such project: all mean "cannot read it"
        raise ReportError(
            f"report.runs={path!r}: the W&B API could not list this project ({err}). Check `wandb login` and the "
            "network, or pass a local folder of runs (e.g. report.runs=multirun/train)"
        ) from err
    runs, skipped = [], []
    for r in api_runs:
        if r.state != "finished":
            skipped.append(f"{path}/{r.id}: W&B state {r.state}")
            continue
        history = [
            {"step": row["_step"], **{k: v for k, v in row.items() if not k.startswith("_")}}
            for row in r.scan_history()
        ]
        runs.append(Run(f"{path}/{r.id}", "W&B API", dict(r.config), dict(r.summary_metrics), history))
    return runs, skipped


def find_runs(where: str, online: bool) -> tuple[list[Run], list[str]]:
    """Every finished run under ``where`` (a folder, a W&B offline run, or entity/project), and the
    runs left out with why. A report's own directory (holding report.json) is not a run, but the runs
    beneath it are read (``docs/compare`` holds the report and a folder per job)."""
    root = Path(where).expanduser()
    if not root.exists() and WANDB_PROJECT.fullmatch(where):
        return read_wandb_project(where, online)
    if not root.is_dir():
        raise ReportError(
            f"report.runs: {where!r} is not a folder; pass folders of runs (e.g. report.runs=multirun/train), "
            "W&B offline run directories, or entity/project (online)"
        )
    local, offline = [], defaultdict(list)
    for folder, subdirs, files in os.walk(root):
        is_report = REPORT_JSON in files
        if (SUMMARY_FILE in files and not is_report) or any(f.endswith(".wandb") for f in files):
            subdirs.clear()  # a run's wandb/ folder is the same run again
        subdirs.sort()
        if SUMMARY_FILE in files and not is_report:
            local.append(Path(folder))
        elif log := next((f for f in files if f.endswith(".wandb")), None):
            offline[log].append(Path(folder))  # one run-<id>.wandb name per run, one folder per start
    runs = [read_local_run(p) for p in tqdm(local, desc="report: read runs", unit="run", disable=not local)]
    skipped = []
    for dirs in tqdm(offline.values(), desc="report: read W&B logs", unit="run", disable=not offline):
        run, finished = read_wandb_offline(sorted(dirs, key=lambda d: d.name))
        if finished:
            runs.append(run)
        else:
            skipped.append(f"{run.where}: not finished (its W&B log has no exit record with code 0)")
    return [r for r in runs if r.config.get("task") != "report"], skipped


# ------------------------------------------------------------- grouping ---
def is_base_evaluation(run: Run) -> bool:
    """A ``task=evaluate`` run of the untrained model: its ``eval/*`` figures belong in the base row."""
    return run.config.get("task") == "evaluate" and not lookup(run.config, "eval.checkpoint")


def trained_config(run: Run) -> dict[str, Any]:
    """The config that trained the weights measured: the run's own, or for ``task=evaluate`` of a
    checkpoint, the config of the training run it names (empty when that is not readable here)."""
    checkpoint = lookup(run.config, "eval.checkpoint")
    if run.config.get("task") != "evaluate" or not checkpoint:
        return run.config
    path = Path(checkpoint)
    train_dir = path if path.is_dir() else path.parent.parent  # <run dir>/checkpoints/step_*.pt
    return _local_config(train_dir) if train_dir.is_dir() else {}


def columns_of(runs: Sequence[Run]) -> list[Column]:
    """The report's columns, then one per gaming diagnostic (``eval/<bench>/diag/<name>``) any run has."""
    found = {m.groups() for run in runs for key in run.summary if (m := DIAG.fullmatch(key))}
    return [*COLUMNS, *(Column(f"{bench} diag/{name}", f"eval/{bench}/diag/{name}") for bench, name in sorted(found))]


def group_runs(runs: Sequence[Run], row_key: str, columns: Sequence[Column] = COLUMNS) -> tuple[list[Row], list[str]]:
    """The base row (when any run measured the untrained policy), then one row per ``row_key``
    value (numeric values in numeric order), and the runs left out for want of the key."""
    groups: dict[Any, list[Run]] = defaultdict(list)
    left_out = []
    for run in runs:
        value = None if is_base_evaluation(run) else lookup(trained_config(run), row_key)
        if isinstance(value, (dict, list)) or (value is None and not is_base_evaluation(run)):
            left_out.append(
                f"{run.where}: no value at report.row_key={row_key} in its stored config (for task=evaluate, "
                "in the config of the training run its eval.checkpoint names)"
            )
        elif value is not None:
            groups[value].append(run)
    numeric = all(number(v) is not None for v in groups)
    rows = [
        Row(str(v), v, [r.summary for r in groups[v]], [r.config.get("seed") for r in groups[v]], groups[v])
        for v in sorted(groups, key=lambda v: v if numeric else str(v))
    ]
    base: dict[str, tuple[dict[str, Any], Any]] = {}
    for run in runs:
        before = {c.key: c.key if is_base_evaluation(run) else c.base_key for c in columns if c.base_key}
        figures = {key: run.summary[at] for key, at in before.items() if at in run.summary}
        if figures:
            base.setdefault(json.dumps(figures, sort_keys=True), (figures, run.config.get("seed")))
    if base:
        rows.insert(0, Row(BASE, None, [f for f, _ in base.values()], [s for _, s in base.values()], []))
    return rows, left_out


def portable(text: str, data_dir: str) -> str:
    """``text`` with this machine's folders written as the variables that name them (the data
    folder, the model cache) or relative to the working directory, so a shared report holds no
    local paths."""
    for folder, name in ((data_dir, "$BIASGRPO_DATA_DIR"), (str(cache_dir()), "$BIASGRPO_CACHE")):
        if folder:
            text = text.replace(str(Path(folder).resolve()), name)
    return text.replace(os.getcwd() + os.sep, "")


def sources(runs: Sequence[Run], data_dir: str) -> dict[str, list[str]]:
    """What produced each benchmark's figures (data, scorer, reward), as recorded in the summaries."""
    out: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        for bench in BENCHMARKS:
            for name in INFO_FIELDS:
                value = run.summary.get(f"eval/{bench}/{name}")
                if isinstance(value, str):
                    out[bench].add(f"{name}: {portable(value, data_dir)}")
    return {bench: sorted(values) for bench, values in out.items()}


def row_cells(
    row: Row, columns: Sequence[Column], level: float, evaluations: Sequence[paired.Examples], resamples: int
) -> dict[str, dict[str, Any] | None]:
    """A row's cell per column: mean over seeds with a bootstrap interval over examples and seeds where
    the row's evaluations hold the figure's per-example results, else the Student-t one cut to range."""
    cells = {c.key: cell([f.get(c.key) for f in row.figures], level, metric_range(c.key)) for c in columns}
    for key, c in cells.items():
        if c is not None and (interval := paired.cell_interval(evaluations, key, level, resamples)):
            c.update(lo=interval[0], hi=interval[1], interval="bootstrap")
    return cells


def row_evaluations(runs: Sequence[Run], rows: Sequence[Row]) -> dict[str, list[paired.Examples]]:
    """Each row's per-example results, one per evaluation: a trained row's ``eval/`` files; the base
    row's, each run's ``eval_before/`` (or a base ``task=evaluate`` run's ``eval/``), counted once."""
    base = [(run.where, "eval" if is_base_evaluation(run) else "eval_before") for run in runs]
    return {
        row.label: paired.evaluations(base, once=True)
        if row.label == BASE
        else paired.evaluations([(run.where, "eval") for run in row.runs])
        for row in rows
    }


def build_report(
    runs: Sequence[Run],
    rows: Sequence[Row],
    row_key: str,
    level: float,
    data_dir: str,
    columns: Sequence[Column] = COLUMNS,
    evaluations: dict[str, list[paired.Examples]] | None = None,
    resamples: int = stats.RESAMPLES,
) -> dict[str, Any]:
    """Everything report.json holds: the table (a cell per row and column, None when missing), the
    paper's Phi-2 figures, the benchmarks' sources and the runs read."""
    evaluations = evaluations or {}
    return {
        "row_key": row_key,
        "ci": level,
        "columns": [{"label": c.label, "key": c.key, "better": c.better} for c in columns],
        "rows": [
            {
                "row": row.label,
                "value": row.value,
                "n": len(row.figures),
                "seeds": row.seeds,
                "examples": len(evaluations.get(row.label, [])),
                "cells": row_cells(row, columns, level, evaluations.get(row.label, []), resamples),
            }
            for row in rows
        ],
        "paper": {
            "model": "Phi-2",
            "source": PAPER_SOURCE,
            "rows": {name: {c.key: c.paper[i] for c in COLUMNS if c.paper} for i, name in enumerate(PAPER_ROWS)},
        },
        "sources": sources(runs, data_dir),
        "runs": [
            {"row": row.label, "seed": seed, "source": run.source, "where": run.where}
            for row in rows
            for seed, run in zip(row.seeds, row.runs)
        ],
    }


# ------------------------------------------------------------- markdown ---
def format_cell(c: dict[str, Any] | None, row_n: int, bounded: bool = False) -> str:
    """``mean [lo, hi]`` for a bootstrap interval or a bounded figure's (cut to its range), else
    ``mean ± half-width``; ``(n=k)`` when the cell has one value or fewer than its row; — when missing."""
    if c is None:
        return MISSING_CELL
    if c.get("interval") == "bootstrap" or (bounded and c["half_width"] is not None):
        text = f"{c['mean']:.4f} [{c['lo']:.4f}, {c['hi']:.4f}]"
    elif c["half_width"] is None:
        text = f"{c['mean']:.4f}"
    else:
        text = f"{c['mean']:.4f} ± {c['half_width']:.4f}"
    return f"{text} (n={c['n']})" if c["n"] == 1 or c["n"] != row_n else text


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """The main table as text: row, n, seeds, then one cell per column."""
    return [
        [
            r["row"],
            str(r["n"]),
            ", ".join(map(str, r["seeds"])),
            *(
                format_cell(r["cells"][c["key"]], r["n"], metric_range(c["key"]) != UNBOUNDED)
                for c in result["columns"]
            ),
        ]
        for r in result["rows"]
    ]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def paired_section(result: dict[str, Any]) -> list[str]:
    """report.md's table of paired differences (biasgrpo/paired.py)."""
    alpha = result["primary"]["alpha"]
    lines = [
        "## Paired differences",
        "",
        f"Each row against `{BASE}` and each algorithm against GRPO, on the examples both evaluated (joined by "
        f"benchmark and example id): difference of the figure, its {1 - alpha:.0%} percentile interval from "
        f"{result['resamples']:,} bootstrap resamples of examples and seeds, the test's p-value (McNemar's exact "
        "test for 0/1 figures, the largest over seed pairs when a row has several seeds; else the bootstrap's), "
        f"and whether p < α = {alpha:g}.",
        "",
    ]
    if not result["paired"]:
        return [
            *lines,
            "None: no two rows share per-example results (`<run dir>/eval/<benchmark>.jsonl`, written by runs "
            "since per-example files were added; W&B-only runs have none).",
        ]
    rows = [
        [
            f"{c['row']} − {c['against']}",
            c["label"],
            f"{c['n_examples']:,}",
            f"{c['seeds'][0]} / {c['seeds'][1]}",
            f"{c['difference']:+.4f}",
            f"[{c['lo']:+.4f}, {c['hi']:+.4f}]",
            c["test"] + (f" (b={c['b']}, c={c['c']})" if "b" in c else ""),
            f"{c['p']:.4g}",
            "yes" if c["significant"] else "no",
        ]
        for c in result["paired"]
    ]
    header = ["comparison", "figure", "examples", "seeds", "difference", "interval", "test", "p", "significant"]
    return lines + md_table(header, rows)


def markdown(result: dict[str, Any]) -> str:
    """report.md: our table, the paper's Phi-2 block beside it, sources, plots, and the runs read."""
    labels = [f"{c['label']} {c['better']}".strip() for c in result["columns"]]
    paper_cols = [c for c in COLUMNS if c.paper]
    pct = f"{result['ci']:.0%}"
    primary = result["primary"]
    lines = [
        "# BiasGRPO report",
        "",
        *paired.primary_lines(result["paired"], primary["key"], primary["against"], primary["alpha"]),
        "",
        f"Rows: `{result['row_key']}`; runs sharing it are seed replicates. Cells: the mean over seeds with its "
        f"{pct} interval: `[lo, hi]`, a bootstrap over examples and seeds where the runs wrote per-example results "
        "(else, for a figure with a bounded range, the Student-t interval over seeds cut to that range); "
        "`mean ± half-width`, the Student-t interval over seeds of an unbounded figure; "
        f"`(n=k)` when a cell has fewer values than its row, or one; {MISSING_CELL} when no run has the figure. "
        f"`{BASE}`: the untrained policy (each run's `eval_before` figures, identical evaluations counted once). "
        "Toxicity: mean P(toxic) of the continuations; TruthfulQA: MC2 (probability mass on the true answers); "
        "train reward and std: `reward/mean`, `reward/std` of the last step; stability (the paper's reward std "
        "during training, the same quantity for every algorithm): `stability/step_reward_std_mean`, the std of all "
        "rewards sampled in a step averaged over steps, and `stability/step_mean_reward_std`, the std over steps of "
        "the step's mean reward; `diag/*`: gaming diagnostics.",
        "",
        *md_table(["row", "n", "seeds", *labels], table_rows(result)),
        "",
        *paired_section(result),
        "",
        "## Phi-2, from the paper",
        "",
        f"Source: {result['paper']['source']}. A different model (Phi-2) and possibly different scorers and "
        "settings: compare only the direction of the change from base, not the values.",
        "",
        *md_table(
            ["Phi-2 (paper)", *(f"{c.label} {c.better}" for c in paper_cols)],
            [[name, *(f"{figs[c.key]:.4f}" for c in paper_cols)] for name, figs in result["paper"]["rows"].items()],
        ),
        "",
        "## Benchmark sources",
        "",
    ]
    recorded = result["sources"]
    lines += [f"- {bench}: {'; '.join(values)}" for bench, values in recorded.items()] or [
        "Not recorded by these runs' summaries (task=evaluate records the data and scorer of each benchmark)."
    ]
    lines += ["", "## Plots", ""]
    lines += [f"![{name}]({name})" for name in result["plots"]] or ["None: no run logged the figures plotted."]
    lines += ["", "## Runs read", ""]
    lines += [f"- `{r['row']}` seed {r['seed']} ({r['source']}): `{r['where']}`" for r in result["runs"]]
    if result["left_out"]:
        lines += ["", "## Left out", "", *(f"- {why}" for why in result["left_out"])]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- plots ---
def plot_curves(rows: Sequence[Row], key: str, ylabel: str, path: Path, level: float) -> bool:
    """Per-step ``key``: the mean over each row's seeds, its interval shaded. False when no run logged it."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for row in rows:
        points = series([r.history for r in row.runs], key, level)
        if not points:
            continue
        steps = [s for s, _ in points]
        means = [c["mean"] for _, c in points]
        (line,) = ax.plot(steps, means, label=f"{row.label} (n={len(row.runs)})")
        lo, hi = [c["lo"] for _, c in points], [c["hi"] for _, c in points]  # inside the figure's range
        ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
    if not ax.lines:
        return False
    ax.set(xlabel="step", ylabel=ylabel, title=f"{key}: mean over seeds, {level:.0%} interval shaded")
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return True


def error_bars(cells: Sequence[dict[str, Any]]) -> list[list[float]]:
    """Asymmetric error bars [below, above] from each cell's interval (which stays inside the range)."""
    return [[c["mean"] - c["lo"] for c in cells], [c["hi"] - c["mean"] for c in cells]]


def _panels(n: int, width: float) -> tuple[Figure, list[Any]]:
    """A figure of n panels, three to a line."""
    cols = min(n, 3)
    fig = Figure(figsize=(width * cols, 3.6 * math.ceil(n / 3)), layout="constrained")
    axes = fig.subplots(math.ceil(n / 3), cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def plot_benchmarks(result: dict[str, Any], path: Path) -> bool:
    """One panel per column with any figure: a bar per row, the interval as error bars."""
    columns = [c for c in result["columns"] if any(r["cells"][c["key"]] for r in result["rows"])]
    if not columns:
        return False
    fig, axes = _panels(len(columns), 4.2)
    for ax, col in zip(axes, columns):
        rows = [(r["row"], r["cells"][col["key"]]) for r in result["rows"] if r["cells"][col["key"]]]
        ax.bar(
            [name for name, _ in rows],
            [c["mean"] for _, c in rows],
            yerr=error_bars([c for _, c in rows]),
            capsize=4,
            color="tab:blue",
        )
        ax.set_title(f"{col['label']} {col['better']}".strip(), fontsize=10)
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"mean over seeds, {result['ci']:.0%} interval")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return True


def plot_ablation(result: dict[str, Any], path: Path) -> bool:
    """Each figure against a numeric row key (e.g. G), the base policy as a dashed line.
    False unless there are two or more numeric rows."""
    rows = [r for r in result["rows"] if r["row"] != BASE]
    base = next((r for r in result["rows"] if r["row"] == BASE), None)
    if len(rows) < 2 or any(number(r["value"]) is None for r in rows):
        return False
    columns = [c for c in result["columns"] if any(r["cells"][c["key"]] for r in rows)]
    if not columns:
        return False
    fig, axes = _panels(len(columns), 4.2)
    for ax, col in zip(axes, columns):
        points = [(r["value"], r["cells"][col["key"]]) for r in rows if r["cells"][col["key"]]]
        xs, cells = [x for x, _ in points], [c for _, c in points]
        ax.errorbar(xs, [c["mean"] for c in cells], yerr=error_bars(cells), marker="o", capsize=4)
        if base and base["cells"][col["key"]]:
            ax.axhline(base["cells"][col["key"]]["mean"], color="grey", linestyle="--", label=BASE)
            ax.legend()
        ax.set(xlabel=result["row_key"], xticks=xs)
        ax.set_title(f"{col['label']} {col['better']}".strip(), fontsize=10)
    fig.suptitle(f"against {result['row_key']}: mean over seeds, {result['ci']:.0%} interval")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return True


# ------------------------------------------------------------------ task ---
def report(cfg: DictConfig, conf: Config, run_dir: Path) -> dict[str, Any]:
    """Read the runs of ``report.runs``, group them by ``report.row_key``, write report.md,
    report.json and the plots to ``run_dir``, and log the table and plots to W&B."""
    rep = conf.report
    online = conf.logger.mode == "online" and os.environ.get("WANDB_MODE") not in ("offline", "disabled")
    runs, left_out = [], []
    for where in rep.runs:
        found, skipped = find_runs(where, online)
        if not found:
            why = "".join(f"\n  - left out: {s}" for s in skipped)
            raise ReportError(
                f"report.runs: no finished runs under {where!r} (searched for directories holding {SUMMARY_FILE} "
                f"and W&B offline runs with a .wandb log); point report.runs at a training run's or sweep's "
                f"output folder, e.g. outputs/train or multirun/train{why}"
            )
        runs += found
        left_out += skipped
    if rep.primary not in paired.BY_KEY:
        raise ConfigError(
            f"report.primary={rep.primary!r} is not a figure compared example by example; use one of "
            + ", ".join(paired.BY_KEY)
        )
    columns = columns_of(runs)
    rows, no_key = group_runs(runs, rep.row_key, columns)
    if not any(row.runs for row in rows):
        raise ReportError(
            f"none of the {len(runs)} runs found has a value at report.row_key={rep.row_key} in its stored config "
            "(.hydra/config.yaml or its W&B run); pass a key they all have, e.g. report.row_key=algorithm.name"
        )
    evaluations = row_evaluations(runs, rows)
    result = build_report(runs, rows, rep.row_key, rep.ci, conf.data_dir, columns, evaluations, rep.resamples)
    result["left_out"] = left_out + no_key
    result["resamples"] = rep.resamples
    result["paired"] = paired.comparisons(evaluations, rep.alpha, rep.resamples)
    result["primary"] = {"key": rep.primary, "against": rep.primary_against, "alpha": rep.alpha}
    if rep.primary_against not in evaluations:
        result["left_out"].append(
            f"report.primary_against={rep.primary_against!r} is not a row here (rows: {', '.join(evaluations)})"
        )

    run_dir.mkdir(parents=True, exist_ok=True)
    plots = [name for key, label, name in CURVES if plot_curves(rows, key, label, run_dir / name, rep.ci)]
    plots += [
        name
        for name, plot in (("benchmarks.png", plot_benchmarks), ("ablation.png", plot_ablation))
        if plot(result, run_dir / name)
    ]
    result["plots"] = plots
    (run_dir / REPORT_JSON).write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (run_dir / REPORT_MD).write_text(text)

    names = run_names(conf, "report", f"report-{rep.row_key}")
    logger = RunLogger(run_dir, conf.logger, 0, conf, names, job_type="report")
    summary: dict[str, Any] = {"report/runs": len(runs), "report/rows": len(rows), "run_dir": str(run_dir)}
    for row in result["rows"]:
        for key, c in row["cells"].items():
            if c is not None:
                summary[f"report/{row['row']}/{key}"] = c["mean"]
    for c in result["paired"]:
        name = f"report/paired/{c['row']}-{c['against']}/{c['key']}"
        summary.update({f"{name}/difference": c["difference"], f"{name}/p": c["p"]})
    try:
        header = ["row", "n", "seeds", *(c["label"] for c in result["columns"])]
        logger.table("report/table", header, table_rows(result), step=0)
        logger.images({f"report/{Path(p).stem}": run_dir / p for p in plots}, step=0)
        logger.summary(summary)
    finally:
        logger.finish()
    print(f"\n{text}")
    return summary
