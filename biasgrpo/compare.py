"""``make compare``: the comparison of sweeps/compare.yaml, job by job, resumable across machines.

    python -m biasgrpo.compare                         # run what is left, then the report
    python -m biasgrpo.compare --list                  # the jobs, their budgets, which are done
    python -m biasgrpo.compare --plan                  # time a few steps of each job (task=plan)
    python -m biasgrpo.compare --report                # only the report, over the finished jobs
    python -m biasgrpo.compare compare.seeds=[0]       # overrides apply to every job

The jobs: ``base``, the untrained model evaluated once (task=evaluate), then each of
``compare.jobs`` once per seed (``<name>_s<seed>``). Each runs in its own process (the ``biasgrpo``
command, the same config and overrides) in ``<work_dir>/<job>/``, where a stopped training job
resumes from its last checkpoint. A finished job's small result files (summary.json,
metrics.jsonl, samples.jsonl, the per-example evaluation files eval/*.jsonl and its config in
.hydra/; never a checkpoint or weights) are copied to ``<out_dir>/<job>/`` with compare.json (wall
time, machine, budget, settings, fingerprints of its inputs). A job whose folder holds compare.json
is done: a fresh machine with only the committed files continues where the last one stopped.

What the jobs read and nobody commits is made first when this machine lacks it (cached here): the
offline dataset (task=make_dataset), the reward model (task=train_reward with
``compare.reward_model``) and the BOLD/RTP toxicity scorer (biasgrpo.benchmarks.scorer_training).
At the end, task=report over ``compare.main`` (rows by algorithm) into ``<out_dir>`` and over
``compare.ablation`` (rows by ``compare.ablation_key``) into ``<out_dir>/ablation``; report.md then
gets the comparison's own sections: budgets, settings and how they were chosen, the ablation
table, wall times.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException

from biasgrpo.algorithms import ALGORITHMS
from biasgrpo.config import CompareConfig, Config, register_configs, validate
from biasgrpo.errors import BiasGRPOError, ConfigError
from biasgrpo.logging import METRICS_FILE, SUMMARY_FILE
from biasgrpo.machine import describe, summary_line
from biasgrpo.plan import budget
from biasgrpo.provenance import lookup

BASE = "base"
JOB_FILE = "compare.json"
RESULT_FILES = (SUMMARY_FILE, METRICS_FILE, "samples.jsonl", ".hydra/config.yaml", ".hydra/overrides.yaml")
RESULT_DIRS = ("eval", "eval_before")  # per-example results, *.jsonl
ELAPSED_FILE = ".compare_elapsed_s"  # in the work folder: wall seconds of earlier, stopped attempts
ABLATION_DIR = "ablation"
# The settings a per-algorithm preset (conf/tuned/) may choose, shown in the report where a job has them.
SETTINGS = (
    "train.lr",
    "train.warmup_steps",
    "algorithm.kl_coef",
    "algorithm.beta",
    "algorithm.loss_type",
    "algorithm.critic_lr",
    "algorithm.critic_warmup_steps",
)


class CompareError(BiasGRPOError):
    """A job of the comparison failed or was stopped; what is finished stays, a rerun continues."""


@dataclass(frozen=True)
class Job:
    name: str
    """``base`` or ``<group>_s<seed>``: its folder under the work and output folders."""
    group: str
    """``base`` or the name in compare.jobs."""
    seed: int
    overrides: tuple[str, ...]
    """Its own overrides, before the user's."""


@dataclass(frozen=True)
class Setup:
    """Something the jobs read that is built on each machine and never committed."""

    name: str
    creates: Path
    """Written last: the build is complete when it exists."""
    fingerprint_of: Path
    """The file whose hash names this build in every job's compare.json."""
    argv: tuple[str, ...]


# ------------------------------------------------------------- config ---
def compose_job(config_dir: Path, config_name: str, overrides: list[str]) -> Config:
    """The config a job composes (``biasgrpo --config-dir <dir> --config-name <name> <overrides>``), checked."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base=None):
        cfg = compose(config_name, overrides=["hydra.searchpath=[pkg://biasgrpo.conf]", *overrides])
    GlobalHydra.instance().clear()
    return validate(cfg)


def expand_jobs(conf: Config) -> list[Job]:
    """``base``, then every job of ``compare.jobs`` once per seed, seeds outermost (a first pass over
    all jobs finishes before a second seed starts: a stopped comparison has every row)."""
    jobs = [Job(BASE, BASE, conf.seed, ("task=evaluate",))]
    for seed in conf.compare.seeds:
        for group, overrides in conf.compare.jobs.items():
            jobs.append(Job(f"{group}_s{seed}", group, seed, (*overrides, f"seed={seed}")))
    return jobs


def settings(conf: Config) -> dict[str, Any]:
    """The values of SETTINGS that this job's algorithm has (None included: e.g. critic_lr=None, the policy's)."""
    tree = dataclasses.asdict(conf)
    parents = {key: (lookup(tree, key.rpartition(".")[0]), key.rpartition(".")[2]) for key in SETTINGS}
    return {key: parent[name] for key, (parent, name) in parents.items() if isinstance(parent, dict) and name in parent}


def fingerprint(path: Path) -> str:
    """12 hex digits of the SHA-256 of a file: which build of an input a job read."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


# ------------------------------------------------------------ estimate ---
def estimate_s(pending: list[Job], finished: dict[str, dict[str, Any]]) -> tuple[float, int]:
    """Seconds the pending jobs should take, each as the mean wall time of the finished jobs of its
    group (else of all finished training jobs), and how many had no finished job to go by."""
    by_group: dict[str, list[float]] = {}
    for meta in finished.values():
        by_group.setdefault(meta["group"], []).append(meta["wall_s"])
    trained = [s for group, walls in by_group.items() if group != BASE for s in walls]
    total, unknown = 0.0, 0
    for job in pending:
        walls = by_group.get(job.group) or (trained if job.group != BASE else [])
        if walls:
            total += statistics.fmean(walls)
        else:
            unknown += 1
    return total, unknown


def hours(seconds: float) -> str:
    """A duration for people: minutes under an hour, else hours."""
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


# ------------------------------------------------------------- results ---
def collect(work: Path, dest: Path, meta: dict[str, Any]) -> None:
    """Copy a finished job's small result files from ``work`` to ``dest`` with its compare.json,
    atomically (a folder with compare.json is a finished job). Never checkpoints or weights."""
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel in RESULT_FILES:
        if (work / rel).is_file():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / rel, tmp / rel)
    for folder in RESULT_DIRS:
        for path in sorted((work / folder).glob("*.jsonl")):
            (tmp / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, tmp / folder / path.name)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / JOB_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(dest, ignore_errors=True)  # a folder without compare.json: a copy cut short
    os.replace(tmp, dest)


def finished_jobs(out_dir: Path) -> dict[str, dict[str, Any]]:
    """compare.json of every finished job under ``out_dir``, by job name."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(out_dir.glob(f"*/{JOB_FILE}"))}


def run_process(argv: list[str]) -> int:
    """Run a job's process in the foreground. Ctrl-C reaches it too and it saves a checkpoint after its
    step, which is waited for (a second Ctrl-C stops it at once); SIGTERM to this process is passed on."""
    proc = subprocess.Popen(argv)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signal.SIGTERM))
    try:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            print("[compare] stopping: the job saves a checkpoint after its current step (Ctrl-C again: at once)")
            try:
                proc.wait()
            except KeyboardInterrupt:
                proc.kill()
                proc.wait()
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------ the driver ---
class Compare:
    def __init__(self, config_dir: Path, config_name: str, overrides: list[str]) -> None:
        self.config_dir, self.config_name, self.overrides = config_dir, config_name, overrides
        self.conf = compose_job(config_dir, config_name, overrides)
        self.conf.compare.validate()
        c = self.conf.compare
        self.out_dir, self.work_dir = Path(c.out_dir), Path(c.work_dir).resolve()
        self.jobs = expand_jobs(self.conf)
        self.confs = {job.name: compose_job(config_dir, config_name, [*job.overrides, *overrides]) for job in self.jobs}
        for job in self.jobs[1:]:
            steps = self.confs[job.name].train.max_steps
            if steps <= 0:
                raise ConfigError(
                    f"train.max_steps={steps} is invalid for compare job {job.name}; allowed: > 0 (a fixed number "
                    "of steps for every job, so that budgets can be equal)"
                )

    def argv(self, *overrides: str) -> list[str]:
        """A ``biasgrpo`` command with this comparison's config and ``overrides`` (the user's come last but
        for where the run goes)."""
        head = [sys.executable, "-m", "biasgrpo.cli", "--config-dir", str(self.config_dir.resolve())]
        return [*head, "--config-name", self.config_name, *overrides]

    def job_argv(self, job: Job) -> list[str]:
        return self.argv(*job.overrides, *self.overrides, f"hydra.run.dir={self.work_dir / job.name}")

    def setups(self) -> list[Setup]:
        """What the jobs read that is built here when missing: dataset, reward model, toxicity scorer."""
        from biasgrpo.benchmarks.toxicity import local_scorer_path
        from biasgrpo.data.build import STATS_FILE, TRAIN_FILE
        from biasgrpo.rewards.classifier import META_FILE

        found: dict[Path, Setup] = {}
        for conf in self.confs.values():
            made = Path(conf.make_dataset.out_dir)
            if conf.dataset.kind == "table" and conf.dataset.path and Path(conf.dataset.path) == made:
                argv = self.argv("task=make_dataset", *self.overrides, f"hydra.run.dir={self.work_dir / 'dataset'}")
                found[made] = Setup("dataset", made / STATS_FILE, made / TRAIN_FILE, tuple(argv))
            if conf.reward.kind == "local_rm":
                rm = Path(conf.reward.path).expanduser()
                rm_args = (*conf.compare.reward_model, *self.overrides, f"reward_training.output_dir={rm}")
                argv = self.argv("task=train_reward", *rm_args, f"hydra.run.dir={self.work_dir / 'reward_model'}")
                found[rm] = Setup("reward model", rm / META_FILE, rm / META_FILE, tuple(argv))
            for bench in conf.benchmark.values():
                if bench.kind in ("bold", "rtp") and bench.scorer == "local_rm":
                    path = local_scorer_path(bench)
                    module = [sys.executable, "-m", "biasgrpo.benchmarks.scorer_training", "--output-dir", str(path)]
                    argv = [*module, *(["--data-dir", conf.data_dir] if conf.data_dir else [])]
                    found[path] = Setup("toxicity scorer", path / META_FILE, path / META_FILE, tuple(argv))
        return list(found.values())

    def build_inputs(self) -> dict[str, str]:
        """Build each missing input; the fingerprint of each, by name."""
        prints = {}
        for setup in self.setups():
            if not setup.creates.exists():
                print(
                    f"[compare] building the {setup.name} (cached on this machine, not committed): "
                    f"{setup.creates.parent}"
                )
                if run_process(list(setup.argv)) != 0 or not setup.creates.exists():
                    raise CompareError(f"building the {setup.name} failed; command: {' '.join(setup.argv)}")
            prints[setup.name] = fingerprint(setup.fingerprint_of)
        return prints

    # ------------------------------------------------------------ commands ---
    def list_jobs(self) -> None:
        finished = finished_jobs(self.out_dir)
        print(f"[compare] {len(self.jobs)} jobs, results in {self.out_dir}/<job>/, run in {self.work_dir}/<job>/")
        for job in self.jobs:
            state = f"done, {hours(finished[job.name]['wall_s'])}" if job.name in finished else "to do"
            sizes = "evaluation of the untrained model" if job.group == BASE else self.budget_text(job)
            print(f"  {job.name:14s} {state:16s} {sizes}")
        for setup in self.setups():
            print(f"  input: {setup.name}: {setup.creates.parent} ({'here' if setup.creates.exists() else 'to build'})")

    def budget_text(self, job: Job) -> str:
        conf = self.confs[job.name]
        b = budget(conf)
        step = (
            f"{b.prompts_per_step} prompts x {conf.algorithm.group_size}"
            if ALGORITHMS[conf.algorithm.name][1].online
            else f"{b.prompts_per_step} pairs x 2"
        )
        sizes = f"{b.sequences:,} sequences, {b.updates:,} optimizer steps"
        return f"{conf.algorithm.name}: {b.steps} steps x {step} = {sizes}"

    def run(self) -> None:
        """Every job not done yet, in order, then the report."""
        names = {job.name for job in self.jobs}
        finished = {name: meta for name, meta in finished_jobs(self.out_dir).items() if name in names}
        pending = [job for job in self.jobs if job.name not in finished]
        print(f"[compare] {len(self.jobs) - len(pending)} of {len(self.jobs)} jobs done (in {self.out_dir})")
        inputs = self.build_inputs() if pending else {}
        for i, job in enumerate(pending):
            left, unknown = estimate_s(pending[i:], finished)
            spent = sum(m["wall_s"] for m in finished.values())
            if unknown == len(pending) - i:
                eta = "the time left is estimated once a training job has finished"
            else:
                eta = f"about {hours(left)} left" + (f" + {unknown} jobs of kinds not yet timed" if unknown else "")
                eta += " (from the finished jobs' wall times)"
            print(
                f"\n[compare] job {len(finished) + 1} of {len(self.jobs)}: {job.name}; {hours(spent)} spent on the "
                f"finished jobs; {eta}"
            )
            finished[job.name] = self.run_job(job, inputs)
        self.report(finished)

    def run_job(self, job: Job, inputs: dict[str, str]) -> dict[str, Any]:
        work = self.work_dir / job.name
        work.mkdir(parents=True, exist_ok=True)
        elapsed = work / ELAPSED_FILE
        before = float(elapsed.read_text()) if elapsed.exists() else 0.0
        t0 = time.monotonic()
        try:
            code = run_process(self.job_argv(job))
        finally:
            elapsed.write_text(f"{before + time.monotonic() - t0:.1f}\n")
        if code != 0 or not (work / SUMMARY_FILE).exists():
            raise CompareError(
                f"job {job.name} stopped (exit status {code}); its files are in {work}. Run again to continue: the "
                "finished jobs are skipped and a training job resumes from its last checkpoint"
            )
        conf = self.confs[job.name]
        meta = {
            "job": job.name,
            "group": job.group,
            "seed": job.seed,
            "task": conf.task,
            "algorithm": None if job.group == BASE else conf.algorithm.name,
            "overrides": [*job.overrides, *self.overrides],
            "config": f"{self.config_dir}/{self.config_name}.yaml",
            "wall_s": float(elapsed.read_text()),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": summary_line(describe()),
            "inputs": inputs,
        }
        if job.group != BASE:
            meta.update(budget=budget(conf).as_dict(), settings=settings(conf), tuning=conf.compare.tuning)
        collect(work, self.out_dir / job.name, meta)
        print(f"[compare] {job.name} done in {hours(meta['wall_s'])}; results in {self.out_dir / job.name}")
        return meta

    def plan(self) -> None:
        """task=plan for the first seed of each group: steps and the training time of a few timed steps;
        the evaluation time per job is the base job's wall time when it has run."""
        self.build_inputs()
        finished = finished_jobs(self.out_dir)
        eval_s = finished[BASE]["wall_s"] if BASE in finished else None
        total, lines = 0.0, []
        for group in self.conf.compare.jobs:
            job = next(j for j in self.jobs if j.group == group)
            folder = self.work_dir / "plan" / group
            argv = self.argv(*job.overrides, *self.overrides, "task=plan", f"hydra.run.dir={folder}")
            if run_process(argv) != 0:
                raise CompareError(f"task=plan failed for job {group}; command: {' '.join(argv)}")
            ledger = json.loads((folder / "plan.jsonl").read_text().splitlines()[-1])
            seeds = len(self.conf.compare.seeds)
            job_s = ledger["steps"] * ledger["step_s"] + (eval_s or 0.0)
            total += seeds * job_s
            lines.append(
                f"  {group:10s} {ledger['steps']} steps x {ledger['step_s']:.1f} s + evaluation = {hours(job_s)} "
                f"x {seeds} seeds"
            )
        total += eval_s or 0.0
        print("\n[compare] plan (" + summary_line(describe()) + ")", *lines, sep="\n")
        evaluation = (
            f"evaluation {eval_s:.0f} s a job (the base job's wall time)"
            if eval_s
            else "evaluation NOT included (run the base job first)"
        )
        print(f"  total: about {hours(total)} ({evaluation}; the inputs built here not included)")

    # -------------------------------------------------------------- report ---
    def report(self, finished: dict[str, dict[str, Any]]) -> None:
        """task=report over the main jobs and over the ablation jobs, then the comparison's own sections."""
        from biasgrpo.report import REPORT_JSON, REPORT_MD

        groups = {job.name: job.group for job in self.jobs}
        done = [name for name in finished if name in groups]

        def runs(rows: list[str]) -> list[Path]:
            return [self.out_dir / name for name in done if groups[name] in (BASE, *rows)]

        main = runs(self.conf.compare.main)
        if not any(groups[p.name] != BASE for p in main):
            print("[compare] no main job has finished: no report yet")
            return
        self.run_report(main, "algorithm.name", self.out_dir)
        ablation = None
        if self.conf.compare.ablation and len(runs(self.conf.compare.ablation)) > 1:
            folder = self.out_dir / ABLATION_DIR
            self.run_report(runs(self.conf.compare.ablation), self.conf.compare.ablation_key, folder)
            ablation = json.loads((folder / REPORT_JSON).read_text())
        md = self.out_dir / REPORT_MD
        metas = [finished[name] for name in done]
        md.write_text(md.read_text() + "\n" + compare_markdown(metas, self.conf.compare, ablation, len(self.jobs)))
        print(f"[compare] report: {md}")

    def run_report(self, runs: list[Path], row_key: str, out: Path) -> None:
        listed = "[" + ",".join(f"'{p}'" for p in runs) + "]"
        report = ("task=report", f"report.runs={listed}", f"report.row_key={row_key}", "logger=none")
        hydra = (f"hydra.run.dir={out}", "hydra.output_subdir=null", "hydra/job_logging=disabled")
        argv = self.argv(*self.overrides, *report, *hydra)
        if run_process(argv) != 0:
            raise CompareError(f"task=report failed; command: {' '.join(argv)}")


# ------------------------------------------------------------ markdown ---
def compare_markdown(
    metas: list[dict[str, Any]], c: CompareConfig, ablation: dict[str, Any] | None, n_jobs: int
) -> str:
    """report.md's sections of the comparison: budgets (and whether they are equal), the settings of each
    algorithm and how they were chosen, the ablation table, wall times and the inputs' builds."""
    from biasgrpo.report import md_table, table_rows

    trained = [m for m in metas if m["group"] != BASE]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for m in trained:
        by_group.setdefault(m["group"], []).append(m)
    total = sum(m["wall_s"] for m in metas)
    lines = [
        "## The comparison: budgets, settings, wall time",
        "",
        f"`python -m biasgrpo.compare` (`make compare`), config `{metas[0]['config']}`: {len(metas)} of {n_jobs} "
        f"jobs finished, **{hours(total)}** of wall time in all (the sum over jobs, on the machines listed below; "
        "the dataset, reward model and toxicity scorer built on each machine are not counted).",
        "",
        "### Budgets",
        "",
        "A sequence is a sampled completion (GRPO, PPO) or a response of a preference pair (DPO: 2 per pair), "
        "the unit the loss trains on; an optimizer step is one update of the weights.",
        "",
    ]
    rows = []
    for group, ms in by_group.items():
        b = ms[0]["budget"]
        same = all(m["budget"] == b for m in ms)
        seeds = ", ".join(str(m["seed"]) for m in ms) + ("" if same else " (budgets differ by seed)")
        counts = [
            b["prompts_per_step"],
            b["sequences_per_step"],
            b["steps"],
            f"{b['sequences']:,}",
            f"{b['updates']:,}",
        ]
        rows.append([group, ms[0]["algorithm"], seeds, *map(str, counts)])
    header = [
        "job",
        "algorithm",
        "seeds",
        "prompts (pairs)/step",
        "sequences/step",
        "steps",
        "sequences",
        "optimizer steps",
    ]
    lines += md_table(header, rows)
    main = {(m["budget"]["sequences"], m["budget"]["updates"]) for g in c.main for m in by_group.get(g, [])}
    if len(main) == 1:
        seqs, updates = next(iter(main))
        verdict = (
            f"Equal budgets: every algorithm of the main table saw {seqs:,} sequences in {updates:,} optimizer steps."
        )
    else:
        verdict = f"NOT equal budgets in the main table: (sequences, optimizer steps) = {sorted(main)}."
    lines += ["", verdict]
    if c.ablation:
        lines.append(
            f"The ablation ({', '.join(c.ablation)}) keeps the same budget and varies how it is spent "
            f"(`{c.ablation_key}`)."
        )
    lines += ["", "### Settings of each algorithm and how they were chosen", ""]
    rows = [
        [
            group,
            ms[0]["algorithm"],
            ", ".join(f"`{k}={v}`" for k, v in ms[0]["settings"].items()),
            ms[0]["tuning"] or "—",
        ]
        for group, ms in by_group.items()
    ]
    lines += md_table(["job", "algorithm", "settings", "how chosen"], rows)
    if ablation:
        labels = [f"{col['label']} {col['better']}".strip() for col in ablation["columns"]]
        lines += [
            "",
            f"### Ablation: rows by `{ablation['row_key']}`",
            "",
            f"Paired comparisons with base and the plot: [{ABLATION_DIR}/report.md]({ABLATION_DIR}/report.md).",
            "",
            *md_table(["row", "n", "seeds", *labels], table_rows(ablation)),
        ]
    lines += ["", "### Wall time", ""]
    rows = [[m["job"], hours(m["wall_s"]), m["finished"], m["machine"]] for m in metas]
    lines += md_table(["job", "wall", "finished", "machine"], rows)
    builds: dict[str, set[str]] = {}
    for m in metas:
        for name, digest in m.get("inputs", {}).items():
            builds.setdefault(name, set()).add(digest)
    lines += [""] + [
        f"- {name}: {'one build' if len(d) == 1 else f'{len(d)} DIFFERENT builds (rebuilt on another machine)'} "
        f"({', '.join(sorted(d))})"
        for name, d in builds.items()
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config-dir", type=Path, default=Path("sweeps"))
    parser.add_argument("--config-name", default="compare")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="print the jobs, their budgets and which are done")
    what.add_argument("--plan", action="store_true", help="time a few steps of each job (task=plan)")
    what.add_argument("--report", action="store_true", help="only the report, over the finished jobs")
    parser.add_argument("overrides", nargs="*", help="config overrides for every job, e.g. compare.seeds=[0]")
    args = parser.parse_args(argv)
    try:
        driver = Compare(args.config_dir, args.config_name, args.overrides)
        if args.list:
            driver.list_jobs()
        elif args.plan:
            driver.plan()
        elif args.report:
            driver.report(finished_jobs(driver.out_dir))
        else:
            driver.run()
    except (BiasGRPOError, HydraException) as err:  # a bad value, or an override Hydra cannot parse or compose
        print(f"\nerror: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\n[compare] stopped; run again to continue where it stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
