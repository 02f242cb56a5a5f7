"""``task=plan``: how big a training run (or every job of a sweep) is and how long it will take,
before it is launched, from a few real steps timed on this machine.

    python run.py task=plan experiment=smoke
    python run.py -m --config-dir sweeps --config-name group_size task=plan model=phi2 device=cuda

For each job it prints the steps, prompts, sequences (completions or pair responses), optimizer
updates and evaluations, and times ``plan.timed_steps`` real steps after one untimed warm-up step
(nothing is saved). Under ``-m`` every job adds a line to ``<sweep dir>/plan.jsonl`` and prints the
sweep's running total; jobs whose steps cost the same (they differ only in the seed, say) reuse one
measured step time. Evaluation time is not estimated: it depends on the benchmark sizes, whose
per-benchmark times are printed by ``task=evaluate``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from biasgrpo.config import Config
from biasgrpo.machine import describe, summary_line


def cost_key(conf: Config) -> str:
    """What a step's cost depends on; jobs sharing it share a step time."""
    t, s, m = conf.train, conf.sampler, conf.model
    parts = (m.name, m.lora.enabled, m.dtype, t.batch_size, t.minibatch_size, s.max_new_tokens, s.backend)
    parts += (conf.device, conf.reward.name, json.dumps(dataclasses.asdict(conf.algorithm), sort_keys=True))
    return "|".join(map(str, parts))


def sweep_jobs(params: dict[str, str]) -> int:
    """Jobs in a Hydra sweep: the product of the number of comma-separated values of each parameter."""
    return math.prod(len(str(v).split(",")) for v in params.values()) if params else 1


def time_steps(conf: Config, cfg: DictConfig, steps: int) -> tuple[dict[str, Any], list[float]]:
    """Build the trainer (no logger, no benchmarks) in a scratch folder; its sizes and ``steps`` step times."""
    from biasgrpo.trainer import Trainer

    quiet = dataclasses.replace(
        conf, logger=dataclasses.replace(conf.logger, kind="none"), benchmark={}, resume="", on_existing="resume"
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(quiet, cfg, Path(tmp))
        try:
            sizes = {
                "steps": trainer.total_steps,
                "prompts_per_step": conf.train.batch_size,
                "sequences_per_step": trainer.rollout_size,
                "updates_per_step": trainer.algo.update_epochs * (trainer.rollout_size // trainer.minibatch_size),
            }
            times = []
            for i in range(steps + 1):  # step 0 warms up (allocations, caches) and is not counted
                t0 = time.perf_counter()
                trainer.step(i)
                times.append(time.perf_counter() - t0)
        finally:
            trainer.cleanup()
    return sizes, times[1:]


def plan(cfg: DictConfig, conf: Config, run_dir: Path) -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig

    multirun = HydraConfig.initialized() and HydraConfig.get().mode.name == "MULTIRUN"
    ledger = Path(HydraConfig.get().sweep.dir) / "plan.jsonl" if multirun else run_dir / "plan.jsonl"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    earlier = [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []
    key = cost_key(conf)
    known = [e["step_s"] for e in earlier if e["cost_key"] == key]
    sizes, times = time_steps(conf, cfg, 0 if known else conf.plan.timed_steps)
    step_s = known[0] if known else statistics.median(times)
    evals = int(conf.eval.before) + int(conf.eval.after) + (sizes["steps"] // conf.eval.every if conf.eval.every else 0)
    job = {
        **sizes,
        "sequences": sizes["steps"] * sizes["sequences_per_step"],
        "updates": sizes["steps"] * sizes["updates_per_step"],
        "evaluations": evals if conf.benchmark else 0,
        "step_s": step_s,
        "step_s_measured": not known,
        "train_hours": sizes["steps"] * step_s / 3600,
        "cost_key": key,
        "overrides": HydraConfig.get().job.override_dirname if multirun else "",
    }
    job["machine"] = describe()
    with ledger.open("a") as f:
        f.write(json.dumps(job) + "\n")
    jobs = [*earlier, job]
    total = sweep_jobs(dict(HydraConfig.get().sweeper.params or {})) if multirun else 1
    print(format_plan(job, jobs, total))
    print(f"  {summary_line(job['machine'])}")
    return {**{f"plan/{k}": v for k, v in job.items() if k != "machine"}, "run_dir": str(run_dir)}


def format_plan(job: dict[str, Any], jobs: list[dict[str, Any]], total: int) -> str:
    how = "measured" if job["step_s_measured"] else "from an earlier job of the same cost"
    lines = [
        f"\n[biasgrpo] plan {job['overrides'] or 'of this run'}:",
        f"  {job['steps']} steps x {job['prompts_per_step']} prompts = {job['sequences']} sequences "
        f"({job['sequences_per_step']} a step), {job['updates']} optimizer updates, {job['evaluations']} evaluations",
        f"  {job['step_s']:.1f} s a step ({how}) -> training {job['train_hours']:.2f} h on this machine",
    ]
    if total > 1:
        hours = sum(j["train_hours"] for j in jobs)
        lines.append(
            f"  sweep: {len(jobs)} of {total} jobs planned; their training {hours:.2f} h"
            + (f", all {total} about {hours / len(jobs) * total:.2f} h" if len(jobs) < total else "")
        )
    return "\n".join(lines)
