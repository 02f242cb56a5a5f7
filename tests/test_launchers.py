"""Clusters and searches: the SLURM launcher composes, an Optuna search runs, the W&B sweep is valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from biasgrpo.config import register_configs, validate
from biasgrpo.errors import ConfigError
from run import sweep_objective
from tests.conftest import TINY, compose_config

ROOT = Path(__file__).resolve().parents[1]
WANDB_SWEEP = ROOT / "sweeps" / "wandb" / "search_grpo.yaml"


def compose_sweep(name: str, overrides: list[str]) -> DictConfig:
    """As ``python run.py -m --config-dir sweeps --config-name <name> <overrides>`` composes it."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "sweeps"), version_base=None):
        search = f"hydra.searchpath=[file://{ROOT / 'conf'}]"
        return compose(config_name=name, overrides=[search, *overrides], return_hydra_config=True)


def test_slurm_launcher_composes_with_overridable_resources() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason='needs pip install -e ".[cluster]"')
    cfg = compose_sweep("smoke_group_size", ["hydra/launcher=slurm", "hydra.launcher.partition=a100"])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "a100"
    assert launcher.gpus_per_node == 1 and launcher.timeout_min > 0
    assert launcher.cpus_per_task > 0 and launcher.mem_gb > 0
    assert cfg.hydra.sweeper.params  # the sweep itself is unchanged


def test_objective_is_read_from_the_summary() -> None:
    summary = {"eval/heldout/reward_mean": 0.75, "run_dir": "outputs/x"}
    assert sweep_objective(summary, "eval/heldout/reward_mean") == 0.75
    assert sweep_objective(summary, "") is None
    with pytest.raises(ConfigError, match=r"objective='reward/mean' .*eval/heldout/reward_mean"):
        sweep_objective(summary, "reward/mean")


def test_optuna_search_runs_trials_and_writes_its_results(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='needs pip install -e ".[cluster]"')
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "run.py", "-m", "--config-dir", "sweeps", "--config-name", "search_grpo"]
    tiny = [a for a in TINY if not a.startswith("train.lr=")]  # a fixed value would take lr out of the search
    args += [
        *tiny,
        "reward=token_fraction",
        "train.max_steps=2",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={tmp_path}",
    ]
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"train.lr", "algorithm.kl_coef", "algorithm.num_generations"}
    assert 0.0 <= results["best_value"] <= 1.0
    assert all((tmp_path / str(trial) / "summary.json").is_file() for trial in range(2))


def test_wandb_sweep_parameters_are_valid_config_keys() -> None:
    sweep = yaml.safe_load(WANDB_SWEEP.read_text())
    assert (ROOT / sweep["program"]).is_file()
    assert sweep["command"][-1] == "${args_no_hyphens}" and sweep["method"] == "bayes"
    # One value of each parameter, passed as the agent passes it (key=value), composes and validates.
    params = sweep["parameters"]
    overrides = [f"{key}={spec['values'][-1] if 'values' in spec else spec['max']}" for key, spec in params.items()]
    conf = validate(compose_config(overrides))
    assert conf.algorithm.num_generations == params["algorithm.num_generations"]["values"][-1]
    assert conf.algorithm.kl_coef == params["algorithm.kl_coef"]["max"]
    assert conf.train.lr == params["train.lr"]["max"]


def test_wandb_sweep_matches_the_optuna_search() -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='needs pip install -e ".[cluster]"')
    sweep = yaml.safe_load(WANDB_SWEEP.read_text())
    optuna = compose_sweep("search_grpo", [])
    assert sweep["metric"] == {"name": optuna.objective, "goal": "maximize"}
    assert optuna.hydra.sweeper.direction == "maximize"
    assert set(sweep["parameters"]) == set(optuna.hydra.sweeper.params)


SEARCHES = {
    "search_compare": ("grpo", {"train.lr"}),
    "search_compare_ppo": ("ppo", {"train.lr", "algorithm.critic_lr", "algorithm.critic_warmup_steps"}),
    "search_compare_dpo": ("dpo", {"train.lr", "algorithm.beta"}),
}


@pytest.mark.parametrize("name", SEARCHES)
def test_compare_searches_fix_the_algorithm_and_share_the_objective_and_trials(name: str) -> None:
    algorithm, searched = SEARCHES[name]
    cfg, grpo = compose_sweep(name, []), compose_sweep("search_compare", [])
    params = dict(cfg.hydra.sweeper.params)
    assert (params.pop("algorithm"), str(params.pop("seed"))) == (algorithm, "0") and set(params) == searched
    assert cfg.algorithm.name == algorithm and cfg.hydra.sweeper.n_trials == grpo.hydra.sweeper.n_trials
    # held-out reward minus the evasive shares of its answers: no evaluation benchmark in it
    assert dict(cfg.objective) == dict(grpo.objective) and list(cfg.benchmark) == ["heldout"]
    assert all(key.startswith("eval/heldout/") for key in cfg.objective)


def test_ppo_compare_search_runs_trials_on_the_weighted_objective(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='needs pip install -e ".[cluster]"')
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "run.py", "-m", "--config-dir", "sweeps", "--config-name", "search_compare_ppo"]
    tiny = [a for a in TINY if not a.startswith(("train.lr=", "train.batch_size="))]
    args += [*tiny, "dataset=templates", "train.max_steps=2", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path}"]
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == SEARCHES["search_compare_ppo"][1]
    summary = json.loads((tmp_path / "0" / "summary.json").read_text())
    evasive = sum(summary[f"eval/heldout/diag/{k}_share"] for k in ("empty", "refusal", "idk"))
    trial = yaml.safe_load((tmp_path / "0" / ".hydra" / "config.yaml").read_text())
    assert trial["algorithm"]["name"] == "ppo" and trial["train"]["batch_size"] == 16  # PPO's matched budget
    assert -1.0 <= results["best_value"] <= 1.0 and summary["eval/heldout/reward_mean"] - evasive <= 1.0
