"""task=plan: a run's sizes from its config and step times from real steps; same-cost jobs reuse them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from biasgrpo.plan import sweep_jobs
from run import dispatch


def test_plan_counts_and_times_a_run_then_reuses_the_time(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    first = dispatch(make_cfg("task=plan", "plan.timed_steps=1"), tmp_path)
    # TINY: 3 steps of 2 prompts x G = 4 completions, one update each; evaluated before and after.
    assert first["plan/steps"] == 3 and first["plan/sequences"] == 3 * 2 * 4 and first["plan/updates"] == 3
    assert first["plan/evaluations"] == 2
    assert first["plan/step_s"] > 0 and first["plan/step_s_measured"]
    assert first["plan/train_hours"] == first["plan/step_s"] * 3 / 3600
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.jsonl").exists()

    again = dispatch(make_cfg("task=plan", "seed=7"), tmp_path)  # the seed does not change a step's cost
    assert not again["plan/step_s_measured"] and again["plan/step_s"] == first["plan/step_s"]
    ppo = dispatch(make_cfg("task=plan", "plan.timed_steps=1", "algorithm=ppo"), tmp_path)
    assert ppo["plan/step_s_measured"] and ppo["plan/updates"] == 3 * 4  # PPO's 4 epochs
    assert len((tmp_path / "plan.jsonl").read_text().splitlines()) == 3
    assert json.loads((tmp_path / "plan.jsonl").read_text().splitlines()[0])["steps"] == 3


def test_sweep_jobs_is_the_product_of_the_value_counts() -> None:
    assert sweep_jobs({"algorithm.num_generations": "2,4,8", "seed": "0,1,2"}) == 9
    assert sweep_jobs({"seed": "0"}) == 1 and sweep_jobs({}) == 0  # 0: not known
