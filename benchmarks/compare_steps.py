"""CPU seconds per training step of each job of the comparison (sweeps/compare.yaml).

    python benchmarks/compare_steps.py                          # every job of compare.jobs, 3 steps each
    python benchmarks/compare_steps.py --steps 5 --jobs grpo,ppo model=tiny

For each job the trainer is built as ``task=plan`` builds it (no logger, no benchmarks, a scratch
folder) and ``--steps`` steps are timed after one untimed warm-up step, in CPU seconds of this
process (``time.process_time``) beside wall seconds: on a machine shared with other jobs the CPU
time is the figure that carries over. Run it with ``OMP_NUM_THREADS=1`` for one-core figures.
``python -m biasgrpo.compare --plan`` times wall seconds on the machine that will run the jobs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's biasgrpo, not an installed one

from biasgrpo.compare import compose_job  # noqa: E402
from biasgrpo.machine import describe, summary_line  # noqa: E402
from biasgrpo.trainer import Trainer  # noqa: E402

SWEEPS = ROOT / "sweeps"


def time_job(overrides: list[str], steps: int) -> dict[str, list[float]]:
    """CPU and wall seconds of ``steps`` training steps after one warm-up step."""
    conf = compose_job(SWEEPS, "compare", overrides)
    quiet = dataclasses.replace(conf, logger=dataclasses.replace(conf.logger, kind="none"), benchmark={})
    cpu, wall = [], []
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(quiet, OmegaConf.create({}), Path(tmp))
        try:
            for step in range(steps + 1):
                c0, w0 = time.process_time(), time.perf_counter()
                trainer.step(step)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
        finally:
            trainer.cleanup()
    return {"cpu_s": cpu[1:], "wall_s": wall[1:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--jobs", default="", help="names of compare.jobs, comma-separated (default: all)")
    parser.add_argument("overrides", nargs="*", help="config overrides for every job")
    args = parser.parse_args()
    jobs = compose_job(SWEEPS, "compare", args.overrides).compare.jobs
    print(summary_line(describe()))
    for name in args.jobs.split(",") if args.jobs else list(jobs):
        times = time_job([*jobs[name], *args.overrides, "benchmark=[heldout]"], args.steps)
        cpu = statistics.median(times["cpu_s"])
        print(f"{name:10s} CPU {cpu:6.1f} s a step (median), wall {statistics.median(times['wall_s']):6.1f} s")
        print(json.dumps({"job": name, **times}))


if __name__ == "__main__":
    main()
