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
