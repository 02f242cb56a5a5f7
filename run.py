"""BiasGRPO's single entry point.

python run.py                                   # GRPO on the embedded SmolLM2-135M
python run.py experiment=smoke                  # the short CPU run of `make run`
python run.py algorithm.num_generations=8 model=phi2 logger.mode=online
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from biasgrpo import distributed
from biasgrpo.config import register_configs, validate
from biasgrpo.errors import BiasGRPOError, ConfigError

register_configs()


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
    if conf.task == "plan":
        from biasgrpo.plan import plan

        return plan(cfg, conf, run_dir)
    raise AssertionError(f"validate() let task={conf.task!r} through")


def sweep_objective(summary: dict, key: str) -> float | None:
    """``summary[key]``: the figure a Hydra sweeper optimises (``objective=``); None when no key is set."""
    if not key:
        return None
    if key not in summary:
        keys = ", ".join(sorted(k for k, v in summary.items() if isinstance(v, (int, float)))[:12])
        raise ConfigError(
            f"objective={key!r} is not a key of this run's summary; allowed: one of its keys "
            f"(summary.json in {summary.get('run_dir', 'the run directory')}), e.g. {keys}"
        )
    return float(summary[key])


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
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


if __name__ == "__main__":
    sys.argv += distributed.hydra_overrides()  # under torchrun: only rank 0 writes Hydra's files
    main()
