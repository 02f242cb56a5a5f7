"""Benchmarks: ``evaluate(policy) -> (figures, rows)``; figures are logged as eval/<name>/*.

- heldout_reward (heldout.py): the training reward on held-out prompts;
- bold (bold.py), rtp (rtp.py): toxicity (and sentiment) of sampled continuations;
- bbq (bbq.py), truthfulqa (truthfulqa.py): multiple choice through lm-eval.

Each benchmark reads its data (and loads its scorer) when it is built, so build them before the
policy: a missing file or scorer stops the run before the model loads.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from biasgrpo.benchmarks.examples import write_examples
from biasgrpo.config import BENCHMARK_KINDS, BenchmarkConfig, Config
from biasgrpo.data import Row
from biasgrpo.errors import ConfigError
from biasgrpo.logging import RunLogger, SilentLogger
from biasgrpo.policy import Policy
from biasgrpo.rewards import Reward

TABLE_ROWS = 32  # sample rows logged per benchmark
# Figures that count examples rather than measure the model: no before/after delta, shown as integers.
COUNT_FIGURES = ("n_examples", "n_full", "limit", "n_categories")


class Benchmark(Protocol):
    name: str
    info: dict[str, str]
    """What produced the figures: the data source and, where there is one, the scorer."""

    def evaluate(self, policy: Policy) -> tuple[dict[str, float], list[dict[str, Any]]]: ...


def info_figures(benchmarks: list[Benchmark]) -> dict[str, str]:
    """What produced each benchmark's figures (data source, scorer), as ``eval/<name>/<field>``."""
    return {f"eval/{b.name}/{k}": v for b in benchmarks for k, v in b.info.items()}


def _heldout(name: str, cfg: BenchmarkConfig, conf: Config, eval_rows: list[Row], reward: Reward | None) -> Benchmark:
    from biasgrpo.benchmarks.heldout import HeldoutReward

    if reward is None:
        raise ConfigError(f"benchmark.{name} (heldout_reward) scores with the training reward; none was built")
    return HeldoutReward(name, cfg, conf.sampler, eval_rows, reward)


def _bold(name: str, cfg: BenchmarkConfig, conf: Config, eval_rows: list[Row], reward: Reward | None) -> Benchmark:
    from biasgrpo.benchmarks.bold import BOLD

    return BOLD(name, cfg, conf.sampler, conf.data_dir, conf.device)


def _rtp(name: str, cfg: BenchmarkConfig, conf: Config, eval_rows: list[Row], reward: Reward | None) -> Benchmark:
    from biasgrpo.benchmarks.rtp import RealToxicityPrompts

    return RealToxicityPrompts(name, cfg, conf.sampler, conf.data_dir, conf.device)


def _bbq(name: str, cfg: BenchmarkConfig, conf: Config, eval_rows: list[Row], reward: Reward | None) -> Benchmark:
    from biasgrpo.benchmarks.bbq import BBQ

    return BBQ(name, cfg, conf.data_dir)


def _truthfulqa(
    name: str, cfg: BenchmarkConfig, conf: Config, eval_rows: list[Row], reward: Reward | None
) -> Benchmark:
    from biasgrpo.benchmarks.truthfulqa import TruthfulQA

    return TruthfulQA(name, cfg, conf.data_dir)


# One builder per name of config.BENCHMARK_KINDS (a test holds the two equal).
BUILDERS = {"heldout_reward": _heldout, "bold": _bold, "rtp": _rtp, "bbq": _bbq, "truthfulqa": _truthfulqa}


def build_benchmarks(conf: Config, eval_rows: list[Row], reward: Reward | None) -> list[Benchmark]:
    """The benchmarks of ``conf.benchmark``; ``eval_rows`` and ``reward`` serve heldout_reward only."""
    for name, cfg in conf.benchmark.items():
        if cfg.kind not in BUILDERS:
            raise ConfigError(f"benchmark.{name}.kind={cfg.kind!r} is unknown; use {' | '.join(BENCHMARK_KINDS)}")
    return [BUILDERS[cfg.kind](name, cfg, conf, eval_rows, reward) for name, cfg in conf.benchmark.items()]


def run_benchmarks(
    benchmarks: list[Benchmark],
    policy: Policy,
    logger: RunLogger | SilentLogger,
    step: int,
    run_dir: Path,
    prefix: str = "eval",
    examples_dir: str = "",
) -> dict[str, float]:
    """Evaluate ``policy`` on every benchmark: figures ``<prefix>/<name>/*`` and the time each took
    (``perf/<prefix>/<name>_s``), logged at ``step`` with a table of sample rows per benchmark, and
    every example's result in ``<run dir>/<examples_dir or prefix>/<name>.jsonl`` (for paired comparisons).

    The one evaluation loop: training (before, during and after) and ``task=evaluate`` both run it.
    """
    figures: dict[str, float] = {}
    for bench in tqdm(benchmarks, desc="evaluate" if prefix == "eval" else prefix, unit="benchmark"):
        t0 = time.perf_counter()
        result, rows = bench.evaluate(policy)
        write_examples(run_dir, examples_dir or prefix, bench.name, rows)
        results = {f"{prefix}/{bench.name}/{k}": v for k, v in result.items()}
        results[f"perf/{prefix}/{bench.name}_s"] = time.perf_counter() - t0
        logger.log(results, step)
        cols = list(rows[0])
        logger.table(f"{prefix}/{bench.name}/samples", cols, [[r[c] for c in cols] for r in rows[:TABLE_ROWS]], step)
        figures.update(results)
    return figures
