"""Sweeps: every file in sweeps/ composes; a multirun gives one finished run per job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from biasgrpo.config import register_configs, validate
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_composes_and_declares_params(name: str) -> None:
    register_configs()
    GlobalHydra.instance().clear()
    # As `--config-dir sweeps` does: the sweep is the primary config, conf/ is searched too.
    with initialize_config_dir(config_dir=str(ROOT / "sweeps"), version_base=None):
        cfg = compose(
            config_name=name, overrides=[f"hydra.searchpath=[file://{ROOT / 'conf'}]"], return_hydra_config=True
        )
    assert cfg.hydra.sweeper.params, f"sweeps/{name}.yaml sweeps nothing"
    with open_dict(cfg):
        del cfg["hydra"]
    validate(cfg)


def test_multirun_gives_one_finished_wandb_run_and_summary_per_job(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    args = [sys.executable, "run.py", "-m", "--config-dir", "sweeps", "--config-name", "smoke_group_size"]
    args += [*TINY, "logger=wandb", "train.max_steps=1", "hydra.sweeper.params={algorithm.num_generations: '2,4'}"]
    args += [f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=${hydra.job.num}"]
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == 2 * 2  # G in {2, 4} x seed in {0, 1}
    generations = set()
    for job in jobs:
        summary = json.loads((job / "summary.json").read_text())
        assert summary["train/steps"] == 1
        runs = list((job / "wandb").glob("offline-run-*"))
        assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
        generations.add(json.loads((job / "metrics.jsonl").read_text().splitlines()[-1]).get("step"))
        assert "num_generations=" in (job / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.parametrize("name", ["paper", "paper_llama"])
def test_paper_sweeps_are_the_paper_with_ipo_and_the_full_benchmarks(name: str) -> None:
    from biasgrpo.compare import compose_job

    confs = {a: compose_job(ROOT / "sweeps", name, [f"algorithm={a}"]) for a in ("grpo", "ppo", "dpo")}
    assert confs["dpo"].algorithm.loss_type == "ipo" and confs["grpo"].algorithm.num_generations == 4
    assert confs["ppo"].algorithm.num_generations == 1  # G = 4 is GRPO's alone
    for conf in confs.values():
        assert conf.model.path == ("microsoft/phi-2" if name == "paper" else "meta-llama/Llama-3.2-3B-Instruct")
        assert (conf.train.lr, conf.train.lr_schedule, conf.train.num_epochs, conf.train.max_steps) == (
            1e-6,
            "linear",
            3,
            0,
        )
        assert conf.dataset.hub_id == "SaketR1/bias-grpo-data" and conf.reward.path == "SaketR1/bias-reward-model"
        assert set(conf.benchmark) == {"heldout", "bold", "rtp", "bbq", "truthfulqa"}
        assert all(b.limit == 0 for b in conf.benchmark.values())  # the full sets
        assert conf.benchmark["bbq"].source == "hub"  # all 11 categories
        # full fine-tuning (1e-6 is a full fine-tuning rate), fp32 weights under bf16 autocast
        assert not conf.model.lora.enabled and (conf.model.dtype, conf.model.autocast) == ("float32", "bfloat16")
