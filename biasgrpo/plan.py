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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from biasgrpo.algorithms import build_algorithm
from biasgrpo.config import Config
from biasgrpo.machine import describe, summary_line

COST_GROUPS = ("model", "sampler", "algorithm", "train", "reward", "dataset", "device")


def cost_key(conf: Config) -> str:
    """Everything a step's cost can depend on (the whole model, sampler, algorithm, train, reward and
    dataset groups and the device; not the seed, the logger or the evaluation); jobs sharing it
    share a step time. Erring wide: a setting that does not change the cost only costs a measurement."""
    return json.dumps({k: dataclasses.asdict(conf)[k] for k in COST_GROUPS}, sort_keys=True, default=str)


def sweep_jobs(params: dict[str, str]) -> int:
    """Jobs of a sweep config: the product of the number of comma-separated values of each of its
    ``hydra.sweeper.params`` (0 when there are none). A job does not see the command line's own
    sweeps (``-m seed=0,1``), nor how many values choice(...) or range(...) give: those are not counted."""
    return math.prod(len(str(v).split(",")) for v in params.values()) if params else 0


@dataclass(frozen=True)
class Budget:
    """What one training run spends: the figures a fair comparison holds equal across algorithms."""

    steps: int
    prompts_per_step: int
    sequences_per_step: int
    """B x G: sampled completions (online algorithms) or pair responses (DPO: 2 per pair) per step."""
    updates_per_step: int
    """Optimizer steps per step: update epochs x minibatches of the rollout."""

    @property
    def sequences(self) -> int:
        return self.steps * self.sequences_per_step

    @property
    def updates(self) -> int:
        return self.steps * self.updates_per_step

    def as_dict(self) -> dict[str, int]:
        return {**dataclasses.asdict(self), "sequences": self.sequences, "updates": self.updates}


def budget(conf: Config, n_prompts: int = 0) -> Budget:
    """The budget of a run from its config alone, as the trainer derives it; ``n_prompts`` (training
    prompts, or pairs for DPO) is needed only when ``train.max_steps`` is 0 (steps by epochs)."""
    t = conf.train
    if not t.max_steps and not n_prompts:
        raise ValueError("train.max_steps is 0 (steps by epochs): the budget needs the number of training prompts")
    sequences = t.batch_size * conf.algorithm.group_size
    epochs = build_algorithm(conf.algorithm).update_epochs
    return Budget(
        steps=t.max_steps or math.ceil(t.num_epochs * n_prompts / t.batch_size),
        prompts_per_step=t.batch_size,
        sequences_per_step=sequences,
        updates_per_step=epochs * (sequences // (t.minibatch_size or sequences)),
    )


def time_steps(conf: Config, cfg: DictConfig, steps: int) -> tuple[dict[str, Any], list[float]]:
    """Build the trainer (no logger, no benchmarks) in a scratch folder; its sizes and ``steps`` step times."""
    from biasgrpo.trainer import Trainer

    quiet = dataclasses.replace(
        conf, logger=dataclasses.replace(conf.logger, kind="none"), benchmark={}, resume="", on_existing="resume"
    )
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(quiet, cfg, Path(tmp))
        try:
            sizes = budget(conf, len(trainer.prompts.train)).as_dict()
            assert sizes["steps"] == trainer.total_steps, "plan.budget and the trainer disagree on the steps"
            times = []
            for i in range(steps + 1 if steps else 0):  # step 0 warms up (allocations, caches): not counted
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
    # as the trainer: before, after, and every eval.every steps short of the last
    during = (sizes["steps"] - 1) // conf.eval.every if conf.eval.every else 0
    evals = int(conf.eval.before) + int(conf.eval.after) + during
    job = {
        **sizes,
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
    if total != 1:  # a sweep: 0 when its size is not known (a command-line sweep)
        hours = sum(j["train_hours"] for j in jobs)
        of = f" of {total}" if total > len(jobs) else ""
        lines.append(
            f"  sweep: {len(jobs)}{of} jobs planned so far; their training {hours:.2f} h"
            + (f", all {total} about {hours / len(jobs) * total:.2f} h" if of else "")
        )
    return "\n".join(lines)
