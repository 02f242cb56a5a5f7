"""The ``biasgrpo`` console script: the packaged config tree (pkg://biasgrpo.conf), --help, a run outside the clone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from biasgrpo import cli
from biasgrpo.config import register_configs, validate
from tests.conftest import CONF_DIR, compose_config

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["experiment=smoke", "model=tiny", "logger=none", "train.max_steps=2"]


def test_packaged_config_composes_as_the_clone_config() -> None:
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(cli.CONFIG_MODULE, version_base=None):
        packaged = compose(config_name="config", overrides=ARGS)
    GlobalHydra.instance().clear()
    assert OmegaConf.to_container(packaged) == OmegaConf.to_container(compose_config(ARGS))
    conf = validate(packaged)
    assert (conf.model.name, conf.train.max_steps, conf.train.batch_size) == ("tiny", 2, 4)  # smoke: batch 4


def test_the_package_ships_the_clone_tree() -> None:
    """biasgrpo/conf is conf/ (a link), and the wheel takes every YAML under it."""
    assert (ROOT / "biasgrpo" / "conf").resolve() == Path(CONF_DIR).resolve()
    project = (ROOT / "pyproject.toml").read_text()  # tomllib is 3.11+
    assert 'biasgrpo = "biasgrpo.cli:main"' in project and '"conf/**/*.yaml"]' in project


def test_help_lists_groups_and_options_without_schemas() -> None:
    text = cli.help_text()
    lines = {line.split(":")[0].strip(): line for line in text.splitlines() if line.startswith("  ")}
    assert "_schema" not in text
    assert lines["algorithm"].split(":", 1)[1].split() == ["dpo,", "grpo*,", "ppo,", "rloo"]
    assert "python" in lines["reward"] and "lexicon*" in lines["reward"]
    assert "heldout*" in lines["benchmark"]
    assert "biasgrpo --cfg job" in text and "biasgrpo --info defaults" in text


def test_console_script_runs_outside_the_clone(tmp_path: Path) -> None:
    """``biasgrpo experiment=smoke ...`` from a folder that is not the clone (the script's module, as pip wires it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    small = ["sampler.max_new_tokens=8", "dataset.eval_prompts=4", "benchmark.heldout.max_new_tokens=8"]
    cmd = [sys.executable, "-c", "from biasgrpo.cli import main; main()", *ARGS, *small, "hydra.run.dir=run"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[biasgrpo] done." in done.stdout and (tmp_path / "run" / "summary.json").exists()
    helped = subprocess.run([*cmd[:3], "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "algorithm:" in helped.stdout and "_schema" not in helped.stdout


def test_run_py_help_reads_the_clone_tree() -> None:
    done = subprocess.run([sys.executable, "run.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "python run.py --cfg job" in done.stdout and "_schema" not in done.stdout
