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

from biasgrpo.config import register_configs, validate
from biasgrpo.errors import BiasGRPOError

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
    raise AssertionError(f"validate() let task={conf.task!r} through")


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    print(OmegaConf.to_yaml(cfg, resolve=True))
    try:
        summary = dispatch(cfg, Path(HydraConfig.get().runtime.output_dir))
    except BiasGRPOError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"\n[biasgrpo] done. Run files: {summary['run_dir']}")
    # Headline figures only; per-domain breakdowns are in summary.json and W&B.
    for key in sorted(k for k in summary if k.startswith(("reward/", "dpo/", "eval", "perf/")) and k.count("/") < 3):
        print(f"  {key:45s} {summary[key]:.4f}" if isinstance(summary[key], float) else f"  {key:45s} {summary[key]}")
    # The figure a Hydra sweeper optimises.
    return summary.get("reward/mean", summary.get("dpo/accuracy"))


if __name__ == "__main__":
    main()
