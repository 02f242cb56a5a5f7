"""BiasGRPO's single entry point (installed, the ``biasgrpo`` command does the same).

python run.py                                   # GRPO on the embedded SmolLM2-135M
python run.py experiment=smoke                  # the short CPU run of `make run`
python run.py algorithm.num_generations=8 model=phi2 logger.mode=online
python run.py --help                            # config groups and their options
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from biasgrpo import distributed
from biasgrpo.cli import dispatch, help_text, run_task, sweep_objective, wants_help
from biasgrpo.config import register_configs

__all__ = ["dispatch", "main", "sweep_objective"]

register_configs()


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    return run_task(cfg)


if __name__ == "__main__":
    if wants_help(sys.argv[1:]):
        print(help_text("python run.py", str(Path(__file__).resolve().parent / "conf")))
        sys.exit(0)
    sys.argv += distributed.hydra_overrides()  # under torchrun: only rank 0 writes Hydra's files
    main()
