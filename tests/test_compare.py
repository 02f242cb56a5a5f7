"""The comparison driver (biasgrpo/compare.py) and the matched budgets of the comparison sweeps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from biasgrpo.compare import JOB_FILE, Job, collect, compose_job, estimate_s, expand_jobs
from biasgrpo.plan import budget
from tests.benchmarks.conftest import write_benchmark_data

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "sweeps"


# --------------------------------------------------------------- budgets ---
@pytest.mark.parametrize("sweep", ["algorithms", "smoke_algorithms"])
def test_algorithm_sweeps_give_every_algorithm_the_same_budget(sweep: str) -> None:
    budgets = {a: budget(compose_job(SWEEPS, sweep, [f"algorithm={a}"])) for a in ("grpo", "ppo", "dpo")}
    assert budgets["grpo"].sequences_per_step == 4 * 4 and budgets["ppo"].prompts_per_step == 16
    assert budgets["dpo"].prompts_per_step == 8  # pairs, 2 responses each
    assert len({(b.steps, b.sequences, b.updates) for b in budgets.values()}) == 1, budgets
    assert all(b.updates == b.steps for b in budgets.values())  # one optimizer step per step


def test_every_compare_job_has_the_same_budget() -> None:
    conf = compose_job(SWEEPS, "compare", [])
    assert set(conf.compare.main) == {"grpo", "ppo", "dpo"} and len(conf.compare.seeds) >= 3
    jobs = {name: compose_job(SWEEPS, "compare", overrides) for name, overrides in conf.compare.jobs.items()}
    budgets = {name: budget(c) for name, c in jobs.items()}
    assert len({(b.steps, b.sequences, b.updates) for b in budgets.values()}) == 1, budgets
    assert {jobs[n].algorithm.num_generations for n in conf.compare.ablation} == {2, 4, 8}
    assert {jobs[n].algorithm.name for n in conf.compare.main} == {"grpo", "ppo", "dpo"}
    assert all(c.compare.tuning for c in jobs.values())  # each preset says how its values were chosen
    assert not conf.eval.before and {"bbq", "bold", "rtp", "truthfulqa", "heldout"} <= set(conf.benchmark)


# ---------------------------------------------------------------- pieces ---
def test_jobs_are_base_then_every_job_per_seed_seeds_outermost() -> None:
    conf = compose_job(SWEEPS, "compare", ["compare.seeds=[3,4]"])
    jobs = expand_jobs(conf)
    assert jobs[0] == Job("base", "base", conf.seed, ("task=evaluate",))
    assert [j.name for j in jobs[1:3]] == ["grpo_s3", "ppo_s3"]
    assert jobs[1].overrides[-1] == "seed=3" and len(jobs) == 1 + 2 * len(conf.compare.jobs)


def test_estimate_uses_the_group_then_any_training_job() -> None:
    finished = {
        "base": {"group": "base", "wall_s": 900.0},
        "grpo_s0": {"group": "grpo", "wall_s": 100.0},
        "grpo_s1": {"group": "grpo", "wall_s": 300.0},
    }
    pending = [Job("grpo_s2", "grpo", 2, ()), Job("ppo_s0", "ppo", 0, ())]
    assert estimate_s(pending, finished) == (200.0 + 200.0, 0)
    assert estimate_s(pending, {}) == (0.0, 2)


def test_collect_copies_results_never_checkpoints(tmp_path: Path) -> None:
    work = tmp_path / "work"
    for rel in ("summary.json", "metrics.jsonl", ".hydra/config.yaml", "eval/bbq.jsonl", "checkpoints/step_2.pt"):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("{}\n")
    (work / "wandb").mkdir()
    (work / "eval" / "notes.txt").write_text("not a result file")
    dest = tmp_path / "docs" / "grpo_s0"
    dest.mkdir(parents=True)
    (dest / "stale.json").write_text("a copy cut short")
    collect(work, dest, {"job": "grpo_s0"})
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [".hydra/config.yaml", JOB_FILE, "eval/bbq.jsonl", "metrics.jsonl", "summary.json"]
    assert not list(dest.parent.glob(".*partial"))


# ------------------------------------------------------------ end to end ---
def run_compare(overrides: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    args = [sys.executable, "-m", "biasgrpo.compare", *overrides]
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def test_compare_runs_job_by_job_reports_and_a_fresh_machine_continues(pairs_file: Path, tmp_path: Path) -> None:
    data, docs, work = write_benchmark_data(tmp_path / "data"), tmp_path / "docs", tmp_path / "work"
    tiny = [
        "model=tiny",
        "logger=none",
        "reward=lexicon",
        f"data_dir={data}",
        "dataset=paradetox_pairs",
        f"dataset.path={pairs_file}",
        "dataset.eval_prompts=4",
        "benchmark=[heldout,bbq]",
        "benchmark.heldout.max_new_tokens=8",
        "sampler.max_new_tokens=8",
        "train.max_steps=2",
        "train.lr=1e-2",
        "compare.seeds=[0]",
        "report.resamples=200",
        f"compare.out_dir={docs}",
        f"compare.work_dir={work}",
    ]
    run_compare(tiny)
    jobs = ["base", "grpo_s0", "ppo_s0", "dpo_s0", "grpo_g2_s0", "grpo_g8_s0"]
    assert sorted(p.name for p in docs.iterdir() if p.is_dir()) == sorted([*jobs, "ablation"])
    for name in jobs:
        folder = docs / name
        assert (folder / "summary.json").is_file() and (folder / ".hydra" / "config.yaml").is_file()
        assert {p.name for p in (folder / "eval").iterdir()} == {"heldout.jsonl", "bbq.jsonl"}
        assert not list(folder.rglob("*.pt")) and not (folder / "checkpoints").exists()
    metas = {name: json.loads((docs / name / JOB_FILE).read_text()) for name in jobs[1:]}
    assert len({(m["budget"]["sequences"], m["budget"]["updates"]) for m in metas.values()}) == 1  # matched
    assert metas["ppo_s0"]["settings"]["train.lr"] == 1e-2 and metas["dpo_s0"]["tuning"].startswith("not yet tuned")
    summary = json.loads((docs / "grpo_s0" / "summary.json").read_text())
    assert "stability/step_reward_std_mean" in summary and summary["provenance"]["known"]

    report = json.loads((docs / "report.json").read_text())
    assert {r["row"] for r in report["rows"]} == {"base", "grpo", "ppo", "dpo"}
    assert {(c["row"], c["against"]) for c in report["paired"]} >= {("grpo", "base"), ("ppo", "grpo")}
    ablation = json.loads((docs / "ablation" / "report.json").read_text())
    assert [r["row"] for r in ablation["rows"]] == ["base", "2", "4", "8"]
    md = (docs / "report.md").read_text()
    for text in ("## Paired differences", "### Budgets", "Equal budgets", "### Ablation", "not yet tuned", "stability"):
        assert text in md, text

    # --plan: a few timed steps of each job, the evaluation as long as the base job took.
    plan = run_compare(["--plan", *tiny])
    assert "the base job's wall time" in plan.stdout and "total: about" in plan.stdout
    assert all(f"  {name} " in plan.stdout for name in ("grpo", "ppo", "dpo", "grpo_g2", "grpo_g8"))

    # A fresh machine with only the committed files, one job short: only that job runs again.
    shutil.rmtree(work)
    shutil.rmtree(docs / "ppo_s0")
    again = run_compare(tiny)
    assert "5 of 6 jobs done" in again.stdout and "job 6 of 6: ppo_s0" in again.stdout
    assert sorted(p.name for p in work.iterdir()) == ["ppo_s0"]
    assert (docs / "ppo_s0" / JOB_FILE).is_file() and "left" in again.stdout
