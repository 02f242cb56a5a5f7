"""Benchmarks: ``evaluate(policy) -> (figures, rows)``; figures are logged as eval/<name>/*."""

from __future__ import annotations

from typing import Any, Protocol

from biasgrpo.config import BenchmarkConfig, SamplerConfig
from biasgrpo.data import Row
from biasgrpo.errors import ConfigError
from biasgrpo.policy import Policy
from biasgrpo.rewards import Reward


class Benchmark(Protocol):
    name: str

    def evaluate(self, policy: Policy) -> tuple[dict[str, float], list[dict[str, Any]]]: ...


def build_benchmarks(
    cfgs: dict[str, BenchmarkConfig], sampler: SamplerConfig, eval_rows: list[Row], reward: Reward
) -> list[Benchmark]:
    benchmarks: list[Benchmark] = []
    for name, cfg in cfgs.items():
        if cfg.kind == "heldout_reward":
            from biasgrpo.benchmarks.heldout import HeldoutReward

            benchmarks.append(HeldoutReward(name, cfg, sampler, eval_rows, reward))
        else:
            raise ConfigError(f"benchmark.{name}.kind={cfg.kind!r} is unknown; use heldout_reward")
    return benchmarks
