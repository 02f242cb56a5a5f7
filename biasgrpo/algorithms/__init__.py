"""The RL algorithms: pure maths in ``functional``, one module per algorithm, one registry.

An algorithm is a config dataclass (``name`` plus its fields, ``group_size`` and
``validate()``) and a class that implements :class:`~biasgrpo.algorithms.base.Algorithm`.
``ALGORITHMS`` is the one list of them: the ConfigStore schemas (``<name>_schema``), the
config checks and the trainer's builder all read it. Adding one = one module + one entry
here + ``conf/algorithm/<name>.yaml``.
"""

from __future__ import annotations

from biasgrpo.algorithms.base import Algorithm, AlgorithmConfig
from biasgrpo.algorithms.dpo import DPO, DPOConfig
from biasgrpo.algorithms.grpo import GRPO, GRPOConfig
from biasgrpo.algorithms.ppo import PPO, PPOConfig
from biasgrpo.algorithms.rloo import RLOO, RLOOConfig

ALGORITHMS: dict[str, tuple[type, type]] = {
    "grpo": (GRPOConfig, GRPO),
    "ppo": (PPOConfig, PPO),
    "dpo": (DPOConfig, DPO),
    "rloo": (RLOOConfig, RLOO),
}


def algorithm_class(cfg: AlgorithmConfig) -> type:
    return ALGORITHMS[cfg.name][1]


def build_algorithm(cfg: AlgorithmConfig) -> Algorithm:
    return algorithm_class(cfg)(cfg)
