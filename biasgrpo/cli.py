"""The ``biasgrpo`` console script, and what run.py and it share: dispatch a config to its task.

    pip install .                         # or `make setup` (editable)
    biasgrpo experiment=smoke             # = python run.py experiment=smoke, from any folder
    biasgrpo --help                       # the config groups and their options

The config tree ships inside the package: ``biasgrpo/conf`` is a link to the clone's ``conf/``
(one tree, edited in one place), so ``pip install .`` copies it into the wheel as package data
and an editable install finds it through the link. The console script reads it from Hydra's
``pkg://biasgrpo.conf`` search path; run.py reads ``conf/`` next to itself, as before.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from biasgrpo import distributed
from biasgrpo.config import TASKS, register_configs, validate
from biasgrpo.errors import BiasGRPOError, ConfigError

CONFIG_MODULE = "biasgrpo.conf"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"
# Groups shown by --help, in this order; Hydra's own groups are listed by --hydra-help.
HELP_GROUPS = ("algorithm", "model", "reward", "dataset", "sampler", "benchmark", "logger", "experiment")
HELP_HYDRA_GROUPS = ("hydra/launcher", "hydra/sweeper")


def dispatch(cfg: DictConfig, run_dir: Path) -> dict:
    """Validate the config, then run ``cfg.task``. Tests call this directly."""
    conf = validate(cfg)
    if conf.task == "train":
        from biasgrpo.trainer import train

        return train(cfg, conf, Path(conf.resume) if conf.resume else run_dir)
    if conf.task == "evaluate":
        from biasgrpo.evaluate import evaluate

        return evaluate(cfg, conf, run_dir)
    if conf.task == "train_reward":
        from biasgrpo.rewards.training import train_reward

        return train_reward(cfg, conf, run_dir)
    if conf.task == "make_dataset":
        from biasgrpo.data.build import make_dataset

        return make_dataset(conf)
    if conf.task == "report":
        from biasgrpo.report import report

        return report(cfg, conf, run_dir)
    if conf.task == "export":
        from biasgrpo.export import export

        return export(cfg, conf, run_dir)
    if conf.task == "plan":
        from biasgrpo.plan import plan

        return plan(cfg, conf, run_dir)
    raise AssertionError(f"validate() let task={conf.task!r} through")


def sweep_objective(summary: dict, objective: str | Mapping[str, float]) -> float | None:
    """The figure a Hydra sweeper optimises (``objective=``): ``summary[key]``, or for ``{key: weight}``
    the weighted sum of those keys; None when no objective is set."""
    if not objective:
        return None
    weights = {objective: 1.0} if isinstance(objective, str) else dict(objective)
    missing = [key for key in weights if key not in summary]
    if missing:
        keys = ", ".join(sorted(k for k, v in summary.items() if isinstance(v, (int, float)))[:12])
        raise ConfigError(
            f"objective={missing[0]!r} is not a key of this run's summary; allowed: one of its keys "
            f"(summary.json in {summary.get('run_dir', 'the run directory')}), e.g. {keys}"
        )
    return sum(float(w) * float(summary[key]) for key, w in weights.items())


def run_task(cfg: DictConfig) -> float | None:
    """The body of the Hydra app: print the config, run the task, print the headline figures.

    A BiasGRPOError is printed as one line and exits with status 2; returns the sweep objective.
    """
    print(OmegaConf.to_yaml(cfg, resolve=True))
    try:
        summary = dispatch(cfg, Path(HydraConfig.get().runtime.output_dir))
        objective = sweep_objective(summary, cfg.objective)
    except BiasGRPOError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"\n[biasgrpo] done. Run files: {summary['run_dir']}")
    # Headline figures only; per-domain breakdowns are in summary.json and W&B.
    for key in sorted(k for k in summary if k.startswith(("reward/", "dpo/", "eval", "perf/")) and k.count("/") < 3):
        print(f"  {key:45s} {summary[key]:.4f}" if isinstance(summary[key], float) else f"  {key:45s} {summary[key]}")
    return objective


def wants_help(argv: list[str]) -> bool:
    return "--help" in argv or "-h" in argv


def help_text(prog: str = "biasgrpo", config_dir: str | None = None) -> str:
    """The config groups and their options (defaults marked ``*``), without the ``*_schema`` entries
    the ConfigStore registers for validation; read from ``config_dir`` or the packaged tree."""
    register_configs()
    GlobalHydra.instance().clear()
    init = initialize_config_dir(config_dir, version_base=None) if config_dir else None
    with init or initialize_config_module(CONFIG_MODULE, version_base=None):
        loader = GlobalHydra.instance().config_loader()
        cfg = compose("config", return_hydra_config=True)
        chosen = {**dict(cfg.hydra.runtime.choices), "benchmark": list(cfg.benchmark)}
        listed = {g: loader.get_group_options(g) for g in (*HELP_GROUPS, *HELP_HYDRA_GROUPS)}
    GlobalHydra.instance().clear()

    def line(group: str) -> str:
        picked = chosen.get(group)
        picked = picked if isinstance(picked, list) else [picked]
        options = [o + ("*" if o in picked else "") for o in listed[group] if not o.endswith("_schema")]
        return f"  {group + ':':16s}{', '.join(options)}"

    return "\n".join(
        [
            f"{prog}: fine-tune language models to be less socially biased with GRPO, PPO or DPO, and measure it.",
            "",
            f"Usage: {prog} [group=option ...] [key=value ...]     e.g. {prog} experiment=smoke model=tiny",
            f"       {prog} -m algorithm=grpo,ppo seed=0,1          (a sweep: one run per combination)",
            "",
            f"Tasks (task=):   {', '.join(TASKS)}   (default: train)",
            "",
            "Config groups (pick one option each; * = default; benchmark takes a list, e.g. benchmark=[bbq,rtp]):",
            *(line(g) for g in HELP_GROUPS),
            *(line(g) for g in HELP_HYDRA_GROUPS),
            "",
            "Every key and its current value:  " + f"{prog} --cfg job          (add --resolve to resolve ${{...}})",
            "Which file set each part:         " + f"{prog} --info defaults",
            "One key's documentation:          the dataclasses in biasgrpo/config.py (README: A short tour)",
            "Hydra's own flags:                " + f"{prog} --hydra-help",
        ]
    )


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="config")
def _app(cfg: DictConfig) -> float | None:
    return run_task(cfg)


def main() -> None:
    """Entry point of the ``biasgrpo`` console script: run.py's job, with the packaged config tree."""
    if wants_help(sys.argv[1:]):
        print(help_text())
        return
    register_configs()
    sys.argv += distributed.hydra_overrides()  # under torchrun: only rank 0 writes Hydra's files
    _app()


if __name__ == "__main__":
    main()
