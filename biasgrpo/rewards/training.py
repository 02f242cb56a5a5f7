"""Train a bias reward model offline: a scalar head on a language model, on local preference pairs.

    python run.py task=train_reward                                    # embedded SmolLM2 trunk, Bradley-Terry
    python run.py task=train_reward reward_training.objective=mse
    python run.py task=train_reward reward_training.backbone=hub reward_training.backbone_path=FacebookAI/roberta-base
    python run.py reward=local_rm reward.path=<run dir>/reward_model   # then train a policy against it

Objectives (biasgrpo/rewards/preference.py): ``bt``, -log σ(s_c - s_r) on each pair; ``mse``,
(σ(s) - y)² on each text with its target y in [0, 1]. Either way the reward is σ(a·s + b), with
(a, b) fitted on the validation split (Platt scaling) so that it reads as P(respectful). The test
split gives pairwise accuracy, AUROC (respectful vs harmful texts) and the calibration of the
score; they go to the logger, summary.json and the saved model card.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from tqdm import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    get_linear_schedule_with_warmup,
    set_seed,
)
from transformers import PreTrainedTokenizerBase as Tokenizer
from transformers.utils import logging as hf_logging

from biasgrpo.config import Config, ModelConfig, RewardTrainingConfig
from biasgrpo.errors import ModelLoadError
from biasgrpo.logging import RunLogger, run_names
from biasgrpo.models import smollm2_folder, tiny_model, tiny_tokenizer
from biasgrpo.rewards.classifier import META_FILE, ClassifierReward, resolve_device
from biasgrpo.rewards.preference import (
    auroc,
    bradley_terry_loss,
    expected_calibration_error,
    pairwise_accuracy,
    platt_scaling,
    regression_loss,
)
from biasgrpo.rewards.probe import probe_base_model
from biasgrpo.rewards.rm_data import RewardPair, load_reward_pairs

EVASION_CHECK_PROMPTS = 200
"""Test prompts of the evasion check set (sources=[bias]): each paired with every kind of evasion."""

MAX_GRAD_NORM = 1.0
# Trunk parameters outside the layer stack that belong to the input side (frozen with the embeddings).
EMBEDDING_NAMES = ("embed", "wte", "wpe")


# ------------------------------------------------------------ backbone ---
def load_backbone(rt: RewardTrainingConfig) -> tuple[PreTrainedModel, Tokenizer]:
    """A sequence classifier with one output on the configured trunk (first ``keep_layers`` layers)."""
    if rt.backbone == "tiny":
        tokenizer = tiny_tokenizer()
        tiny = ModelConfig(name="tiny", loader="tiny", num_layers=rt.keep_layers or 2)
        config = tiny_model(tiny, len(tokenizer)).config
        config.num_labels = 1
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        source = str(smollm2_folder()) if rt.backbone == "smollm2_gguf" else rt.backbone_path
        layers = {"num_hidden_layers": rt.keep_layers} if rt.keep_layers else {}
        verbosity = hf_logging.get_verbosity()
        # The load report would list every layer that keep_layers drops, and the new head, as problems.
        hf_logging.set_verbosity_error()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=1, dtype=torch.float32, **layers
            )
        except OSError as err:
            raise ModelLoadError(
                f"reward_training.backbone_path={source!r} could not be loaded: {err}\n"
                "  - with network: check the hub id; offline: pass a local folder;\n"
                "  - or use the embedded model, reward_training.backbone=smollm2_gguf."
            ) from err
        finally:
            hf_logging.set_verbosity(verbosity)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id  # decoders pool the last non-pad token
    model.config.problem_type = "regression"
    return model, tokenizer


def freeze_lower_layers(model: PreTrainedModel, train_layers: int) -> int:
    """Train the head, the last ``train_layers`` layers and the trunk above them (the final norm).

    The embeddings and lower layers are frozen, so backward stops at the first trained layer:
    most of the cost of a step is then one forward pass. Returns the trainable parameter count.
    """
    trunk = model.base_model
    stacks = [m for m in trunk.modules() if isinstance(m, torch.nn.ModuleList)]
    layers = max(stacks, key=len)  # the transformer blocks: llama model.layers, roberta encoder.layer, ...
    n_frozen = 0 if train_layers < 0 else max(0, len(layers) - train_layers)
    frozen = {id(p) for layer in layers[:n_frozen] for p in layer.parameters()}
    frozen |= {id(p) for n, p in trunk.named_parameters() if any(e in n for e in EMBEDDING_NAMES)}
    for p in model.parameters():
        p.requires_grad_(id(p) not in frozen)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------- loss, eval ---
def batch_loss(scorer: ClassifierReward, pairs: list[RewardPair], objective: str) -> tuple[torch.Tensor, dict]:
    """The objective's loss on B pairs, from one forward pass over the 2B texts."""
    B = len(pairs)
    prompts = [p.prompt for p in pairs] * 2
    enc = scorer.encode(prompts, [p.chosen for p in pairs] + [p.rejected for p in pairs])
    logits = scorer.model(**enc).logits[:, 0].float()  # [2B]: chosen then rejected
    chosen, rejected = logits[:B], logits[B:]
    if objective == "bt":
        loss = bradley_terry_loss(chosen, rejected)
    elif objective == "mse":
        targets = [p.chosen_target for p in pairs] + [p.rejected_target for p in pairs]
        loss = regression_loss(logits, torch.tensor(targets, device=logits.device))
    else:
        raise ValueError(f"reward_training.objective={objective!r}; use bt or mse")
    stats = {
        "rm/loss": loss.detach(),
        "rm/accuracy": pairwise_accuracy(chosen.detach(), rejected.detach()),
        "rm/margin": (chosen - rejected).detach().mean(),
    }
    return loss, stats


def text_logits(scorer: ClassifierReward, pairs: list[RewardPair]) -> tuple[torch.Tensor, ...]:
    """Head outputs of the distinct texts ``[n]`` with their labels (chosen 1, rejected 0), and of
    each pair's chosen and rejected text ``[B]``; a text shared by several pairs is scored once."""
    texts = {(p.prompt, t): label for p in pairs for t, label in ((p.chosen, 1), (p.rejected, 0))}
    keys = list(texts)
    logits = scorer.logits([k[0] for k in keys], [k[1] for k in keys]).cpu()
    index = {k: i for i, k in enumerate(keys)}
    chosen = logits[[index[(p.prompt, p.chosen)] for p in pairs]]
    rejected = logits[[index[(p.prompt, p.rejected)] for p in pairs]]
    return logits, torch.tensor([texts[k] for k in keys]), chosen, rejected


def evaluate(scorer: ClassifierReward, pairs: list[RewardPair], prefix: str) -> dict[str, float]:
    """Pairwise accuracy (overall and per source), AUROC and calibration on held-out pairs.

    Ranking figures use the head outputs, so calibration cannot change them. AUROC and the
    calibration figures are over distinct texts, the score read as P(respectful).
    """
    logits, labels, chosen, rejected = text_logits(scorer, pairs)
    probs = scorer.to_score(logits)
    figures = {
        "pairwise_accuracy": pairwise_accuracy(chosen, rejected),
        "bt_loss": bradley_terry_loss(chosen, rejected),
        "auroc": auroc(logits, labels),
        "ece": expected_calibration_error(probs, labels),
        "score_respectful_mean": probs[labels == 1].mean(),
        "score_harmful_mean": probs[labels == 0].mean(),
        "score_p05": probs.quantile(0.05),
        "score_p95": probs.quantile(0.95),
    }
    for source in sorted({p.source for p in pairs}):
        mask = torch.tensor([p.source == source for p in pairs])
        figures[f"pairwise_accuracy/{source}"] = pairwise_accuracy(chosen[mask], rejected[mask])
    return {f"{prefix}/{k}": float(v) for k, v in figures.items()}


# -------------------------------------------------------------- train ---
def train_reward(cfg: DictConfig, conf: Config, run_dir: Path) -> dict[str, Any]:
    """Build, train, test and save a reward model; returns the summary (also in summary.json)."""
    rt, t0 = conf.reward_training, time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    set_seed(conf.seed)
    splits = load_reward_pairs(rt, conf.data_dir, conf.seed)
    model, tokenizer = load_backbone(rt)
    n_trainable = freeze_lower_layers(model, rt.train_layers)
    model.to(resolve_device(conf.device))
    scorer = ClassifierReward("local_rm", model, tokenizer, rt.input_format, rt.max_length, 64, (1.0, 0.0))
    print(
        f"[biasgrpo] reward model: {rt.backbone} trunk with {model.config.num_hidden_layers} layers, "
        f"{n_trainable:,} trainable parameters; pairs " + ", ".join(f"{s}={len(p)}" for s, p in splits.items())
    )
    # W&B names for a reward-model run, not the policy run's defaults
    names = run_names(conf, "reward_model", f"rm-{rt.objective}-{rt.backbone}-s{conf.seed}")
    logger = RunLogger(run_dir, conf.logger, 0, conf, names, job_type="train_reward", tags=("train_reward",))
    try:
        t_fit = time.perf_counter()
        steps = fit(scorer, splits, rt, conf.seed, logger)
        t_fit = time.perf_counter() - t_fit
        # Calibrated on validation texts, so the test figures judge it out of sample.
        logits, labels, _, _ = text_logits(scorer, splits["val"])
        scorer.calibration = platt_scaling(logits, labels)
        summary: dict[str, Any] = {**evaluate(scorer, splits["val"], "eval/val")}
        summary.update(evaluate(scorer, splits["test"], "eval/test"))
        if "bias" in rt.sources:
            # A respectful answer vs each kind of evasion, on test prompts (groups, templates unseen).
            from biasgrpo.rewards.bias_pairs import evasion_check_pairs

            checks = evasion_check_pairs(Path(conf.data_dir), rt, conf.seed, EVASION_CHECK_PROMPTS)
            summary.update(evaluate(scorer, checks, "eval/evasion"))
            summary["data/evasion_check_prompts"] = len({p.prompt for p in checks})
        # The reward probe (rewards/probe.py): degenerate answers against the base policy's own samples.
        summary.update(probe_base_model(scorer, conf))
        summary.update({"rm/calibration_scale": scorer.calibration[0], "rm/calibration_offset": scorer.calibration[1]})
        logger.log(summary, steps)
        out = Path(rt.output_dir).expanduser() if rt.output_dir else run_dir / "reward_model"
        summary.update(
            {
                "train/steps": steps,
                "rm/trainable_params": n_trainable,
                **{f"data/{s}_pairs": len(p) for s, p in splits.items()},
                "perf/train_s": t_fit,
                "perf/wall_s": time.perf_counter() - t0,
                "model_dir": str(out),
                "run_dir": str(run_dir),
            }
        )
        save(scorer, out, rt, summary)
        logger.summary(summary)
    finally:
        logger.finish()
    print(f"[biasgrpo] use it: python run.py reward=local_rm reward.input_format={rt.input_format} reward.path={out}")
    return summary


def fit(
    scorer: ClassifierReward,
    splits: dict[str, list[RewardPair]],
    rt: RewardTrainingConfig,
    seed: int,
    logger: RunLogger,
) -> int:
    """Minibatches of shuffled training pairs for ``rt.epochs``; returns the number of steps."""
    train, model = splits["train"], scorer.model
    per_epoch = math.ceil(len(train) / rt.batch_size)
    total = rt.epochs * per_epoch
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=rt.lr, weight_decay=0.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, rt.warmup_steps, total)
    order: list[int] = []
    for step in tqdm(range(total), desc="train_reward"):  # rate and time left, as training shows
        t0 = time.perf_counter()
        epoch, i = divmod(step, per_epoch)
        if i == 0:
            order = list(range(len(train)))
            random.Random(seed * 100_003 + epoch).shuffle(order)
        batch = [train[j] for j in order[i * rt.batch_size : (i + 1) * rt.batch_size]]
        model.train()
        loss, stats = batch_loss(scorer, batch, rt.objective)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        stats["rm/grad_norm"] = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        optimizer.step()
        scheduler.step()
        stats.update(
            {"train/lr": scheduler.get_last_lr()[0], "perf/pairs_per_s": len(batch) / (time.perf_counter() - t0)}
        )
        if rt.eval_every and (step + 1) % rt.eval_every == 0 and step + 1 < total:
            stats.update(evaluate(scorer, splits["val"], "eval/val"))
        logger.log(stats, step + 1)
    return total


# --------------------------------------------------------------- save ---
def save(scorer: ClassifierReward, out: Path, rt: RewardTrainingConfig, summary: dict) -> None:
    """An HF folder (AutoModelForSequenceClassification), how it was trained, and a model card."""
    out.mkdir(parents=True, exist_ok=True)
    scorer.model.save_pretrained(out)
    scorer.tokenizer.save_pretrained(out)
    meta = {
        "input_format": rt.input_format,
        "objective": rt.objective,
        "calibration": scorer.calibration,
        "score": "sigmoid(calibration[0] * logits[:, 0] + calibration[1])",
        "training": {k: v for k, v in vars(rt).items() if k != "output_dir"},
        "metrics": {k: v for k, v in summary.items() if k.startswith(("eval/", "data/", "probe/"))},
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (out / "README.md").write_text(model_card(rt, summary, scorer.calibration))


def figure_rows(summary: dict, prefix: str) -> str:
    """Markdown table rows ``| name | value |`` of the summary keys under ``prefix``."""
    return "\n".join(
        f"| {k.removeprefix(prefix)} | {v:.4f} |" for k, v in sorted(summary.items()) if k.startswith(prefix)
    )


def data_section(rt: RewardTrainingConfig) -> str:
    """What the pairs are, per source."""
    about = {
        "paradetox": "paradetox: a toxic comment vs its human rewrite",
        "toxigen": "toxigen: a hateful vs a neutral statement about the same group",
        "davidson": 'davidson: an offensive or hateful vs a "neither" tweet',
        "bias": "bias: a prompt about a group (the project's templates; groups from the package"
        + (", HolisticBias" if "holisticbias" in rt.bias_resources else "")
        + (", ToxiGen" if "toxigen" in rt.bias_resources else "")
        + ") answered respectfully and on topic (chosen) vs a stereotyped or demeaning generalisation, "
        + "a hateful or toxic text ("
        + ", ".join(r for r in rt.bias_resources if r != "holisticbias")
        + ') or an evasion: empty, "I don\'t know", a refusal, the prompt copied, one word repeated, '
        "off-topic filler (rewards/bias_pairs.py). Groups, prompt templates, stereotype wordings and "
        "source texts are split train / validation / test apart, so test pairs are about unseen groups.",
    }
    return "; ".join(about.get(s, s) for s in rt.sources) + "."  # a source of another recipe: its name


def model_card(rt: RewardTrainingConfig, summary: dict, calibration: tuple[float, float]) -> str:
    objective = {
        "bt": "Bradley-Terry on pairs: loss = -log σ(s_chosen - s_rejected)",
        "mse": "regression: loss = (σ(s) - y)², y in [0, 1] (1 = respectful; Davidson: share of 'neither' votes)",
    }[rt.objective]
    backbone = rt.backbone_path if rt.backbone == "hub" else rt.backbone
    trained = "all layers" if rt.train_layers < 0 else f"the last {rt.train_layers}"
    rows = figure_rows(summary, "eval/test/")
    evasion = ""
    if any(k.startswith("eval/evasion/") for k in summary):
        evasion = f"""
## Evasion check
{summary["data/evasion_check_prompts"]} test prompts (groups and templates never trained on), each with one
respectful on-topic answer and one answer of each evasion kind. pairwise_accuracy/evasion/<kind>: the
share where the respectful answer scores higher (goal >= 0.95).

| metric | value |
|---|---|
{figure_rows({k: v for k, v in summary.items() if "accuracy" in k}, "eval/evasion/")}
"""
    probe = ""
    if "probe/base_mean" in summary:
        numbers = {k: v for k, v in summary.items() if k.startswith("probe/") and isinstance(v, float)}
        probe = f"""
## Probe
Degenerate answers (empty, "I don't know.", a refusal, the prompt copied, one word repeated) scored next
to the mean of the base policy's own samples (rewards/probe.py). Flagged (>= that mean):
{summary.get("probe/flagged") or "none"}.

| metric | value |
|---|---|
{figure_rows(numbers, "probe/")}
"""
    limits = (
        "Trained on toxicity and explicit hate; polite stereotypes and subtle bias are scored less reliably."
        if "bias" not in rt.sources
        else "Its respectful answers and stereotypes are template-built: it learns their contrast, and real "
        "answers far from both (long, mixed, subtly biased) are scored less reliably. Check it on your "
        "policy's samples (benchmarks/reward_checks.py)."
    )
    use = f"reward=local_rm reward.input_format={rt.input_format} reward.path={summary['model_dir']}"
    what = "an answer to a prompt" if rt.input_format == "prompt_completion" else "a text"
    return f"""# Bias reward model (BiasGRPO `task=train_reward`)

Scores {what}: σ(a·s + b) in [0, 1] for the head output s = logits[:, 0], higher = more respectful
(less toxic or demeaning). a = {calibration[0]:.4f}, b = {calibration[1]:.4f}, fitted on the validation
split (Platt scaling) so that the score reads as P(respectful); ranking needs s alone.
Input: `{rt.input_format}` (see `biasgrpo/rewards/classifier.py`), at most {rt.max_length} tokens when trained.

    python run.py {use}

or `AutoModelForSequenceClassification.from_pretrained(<this folder>)`, then `torch.sigmoid(a * logits[:, 0] + b)`.

## Model
- Backbone: {backbone}, first {rt.keep_layers or "all"} layers kept, {trained} trained \
(plus the final norm and the one-output head); {summary["rm/trainable_params"]:,} trainable parameters.
- Objective: {objective}.
- {summary["train/steps"]} steps of {rt.batch_size} pairs, AdamW, lr {rt.lr}, {rt.epochs} epoch(s).

## Data
Local copies (see the data folder's README): {", ".join(rt.sources)}. {data_section(rt)}
Rows are split train / validation / test by a hash of their text before
pairing, so no pair or text crosses splits. Pairs: train {summary["data/train_pairs"]}, validation
{summary["data/val_pairs"]}, test {summary["data/test_pairs"]}.

## Held-out test figures
| metric | value |
|---|---|
{rows}

pairwise_accuracy: share of test pairs with score(chosen) > score(rejected). auroc: respectful vs harmful
texts. ece: expected calibration error of the score read as P(respectful), 10 bins. score_p05 / score_p95:
the range the scores span; score_respectful_mean / score_harmful_mean: mean score of each class.
{evasion}{probe}
## Limitations
{limits} English only. This is not the BiasGRPO paper's reward model (`SaketR1/bias-reward-model`, `reward=bias_rm`).
"""
