"""Learned reward models: a sequence classifier with one scalar output scores each completion.

- ``bias_rm``: the BiasGRPO paper's released reward model, ``SaketR1/bias-reward-model``
  (RoBERTa-base with a one-logit regression head; higher = less biased), loaded from the hub or
  from a local folder (``reward.path=``). The score is the raw head output.
- ``local_rm``: a model trained by ``python run.py task=train_reward``; its folder records how it
  was trained (``biasgrpo_reward.json``). The score is σ(a·s + b) in [0, 1] for the head output s,
  with (a, b) fitted on held-out data so that it reads as P(respectful).

Input format. The released model's card shows it used as a one-text ``text-classification``
pipeline, and its training config cannot be read offline, so by default it reads the completion
alone (``reward.input_format=completion``), which is also what a judgement of the policy's answer
needs. ``prompt_completion`` passes the tokenizer's sentence pair when the tokenizer has a
separator (RoBERTa: ``<s> prompt </s></s> completion </s>``, how a classifier is trained on two
texts) and ``prompt + "\\n\\n" + completion`` otherwise (decoders). Change it if the model card
of the version you load says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BatchEncoding, PreTrainedModel
from transformers import PreTrainedTokenizerBase as Tokenizer

from biasgrpo.config import RewardConfig
from biasgrpo.errors import ConfigError, ModelLoadError
from biasgrpo.rewards import check_scores

HUB_ID = "SaketR1/bias-reward-model"
META_FILE = "biasgrpo_reward.json"


def resolve_device(name: str) -> torch.device:
    """auto: cuda when available, the same rule as the policy's ``device=auto``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class ClassifierReward:
    """Scores (prompt, completion) pairs with a scalar-head sequence classifier: batched, no grad."""

    def __init__(
        self,
        name: str,
        model: PreTrainedModel,
        tokenizer: Tokenizer,
        input_format: str,
        max_length: int,
        batch_size: int,
        calibration: tuple[float, float] | None,
    ) -> None:
        """``calibration``: (a, b) to return σ(a·s + b) for the head output s; None returns s itself."""
        if model.config.num_labels != 1:
            raise ModelLoadError(
                f"reward {name!r}: the model has {model.config.num_labels} outputs "
                f"({model.config.id2label}); a reward model needs one scalar output (num_labels=1)"
            )
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        # Right padding: positions of real tokens start at 0 in encoders and decoders alike.
        # Left truncation: the end of a long text, where the completion is, is what gets scored.
        tokenizer.padding_side, tokenizer.truncation_side = "right", "left"
        self.input_format = input_format
        self.max_length = max_length
        self.batch_size = batch_size
        self.calibration = calibration

    @property
    def device(self) -> torch.device:
        return self.model.device

    def encode(self, prompts: list[str], completions: list[str]) -> BatchEncoding:
        """Tokenise as the model was trained: the completion alone or (prompt, completion)."""
        tok = self.tokenizer
        # An empty completion would give a sequence without tokens; its score is that of EOS.
        completions = [c if c.strip() else tok.eos_token or " " for c in completions]
        kwargs = {"padding": True, "truncation": True, "max_length": self.max_length, "return_tensors": "pt"}
        if self.input_format == "completion":
            enc = tok(completions, **kwargs)
        elif tok.sep_token is not None:
            enc = tok(prompts, completions, **kwargs)
        else:
            enc = tok([f"{p}\n\n{c}" for p, c in zip(prompts, completions)], **kwargs)
        return enc.to(self.device)

    def logits(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        """Raw head outputs ``[N]`` (on the model's device), in ``batch_size`` chunks of similar length."""
        n = len(completions)
        # Longest first, so that each batch pads little and memory peaks on the first one.
        order = sorted(range(n), key=lambda i: -(len(prompts[i]) + len(completions[i])))
        out = torch.empty(n, device=self.device)
        was_training = self.model.training
        self.model.eval()
        # no_grad, not inference_mode: the trainer builds advantages (and a graph) from these scores.
        with torch.no_grad():
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self.encode([prompts[i] for i in idx], [completions[i] for i in idx])
                out[torch.tensor(idx, device=self.device)] = self.model(**enc).logits[:, 0].float()
        self.model.train(was_training)
        return out

    def to_score(self, logits: torch.Tensor) -> torch.Tensor:
        if self.calibration is None:
            return logits
        a, b = self.calibration
        return torch.sigmoid(a * logits + b)

    def score(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        """One float per completion, higher = less biased, on the CPU like every reward.

        A NaN or inf (broken weights, an overflow in float16) is an error naming the text.
        """
        scores = self.to_score(self.logits(prompts, completions)).cpu()
        return check_scores(self, scores, prompts, completions)


def load_classifier(source: str, device: torch.device) -> tuple[PreTrainedModel, Tokenizer]:
    """``from_pretrained`` on a hub id or folder, in float32 on ``device``, frozen and in eval mode."""
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(source, dtype=torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.requires_grad_(False).eval().to(device), tokenizer


def load_bias_rm(cfg: RewardConfig) -> ClassifierReward:
    """The paper's reward model from a local folder (``reward.path``) or the hub id it names."""
    source = cfg.path or HUB_ID
    local = Path(source).expanduser()
    if source.startswith(("/", ".", "~")) and not local.is_dir():
        raise ModelLoadError(f"reward.path={source!r} is not a folder (a download of {HUB_ID})")
    try:
        model, tokenizer = load_classifier(str(local) if local.is_dir() else source, resolve_device(cfg.device))
    except (OSError, ValueError) as err:
        raise ModelLoadError(
            f"reward {cfg.name!r} could not load {source!r}: {err}\n"
            f"Two ways to fix it:\n"
            f"  - with network: let this machine reach huggingface.co (unset HF_HUB_OFFLINE), and {HUB_ID}\n"
            f"    downloads once into the Hugging Face cache;\n"
            f"  - offline: download it where there is network (huggingface-cli download {HUB_ID} --local-dir DIR),\n"
            f"    copy DIR here and pass reward.path=DIR.\n"
            f"(Or train a reward model here: python run.py task=train_reward, then reward=local_rm reward.path=...)"
        ) from err
    return ClassifierReward(cfg.name, model, tokenizer, cfg.input_format, cfg.max_length, cfg.batch_size, None)


def load_local_rm(cfg: RewardConfig) -> ClassifierReward:
    """A folder written by ``task=train_reward``, read with the input format it was trained on."""
    folder = Path(cfg.path).expanduser()
    if not cfg.path or not (folder / META_FILE).is_file():
        how = (
            f"`python run.py task=train_reward reward_training=bias reward_training.output_dir={cfg.path}` "
            "(the bias reward model that reads prompt and answer, about 10 min on 2 CPU cores)"
            if cfg.input_format == "prompt_completion"
            else "`python run.py task=train_reward`, then pass reward=local_rm reward.path=<its run dir>/reward_model"
        )
        raise ModelLoadError(
            f"reward.path={cfg.path!r} is not a reward model folder written by task=train_reward "
            f"(no {META_FILE}). Train one with {how}"
        )
    meta = json.loads((folder / META_FILE).read_text())
    if meta["input_format"] != cfg.input_format:
        raise ConfigError(
            f"reward.input_format={cfg.input_format!r}, but {folder} was trained with "
            f"input_format={meta['input_format']!r}; set reward.input_format={meta['input_format']}"
        )
    model, tokenizer = load_classifier(str(folder), resolve_device(cfg.device))
    a, b = meta["calibration"]
    return ClassifierReward(cfg.name, model, tokenizer, cfg.input_format, cfg.max_length, cfg.batch_size, (a, b))
