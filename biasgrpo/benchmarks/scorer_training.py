"""Train the BOLD/RTP toxicity scorer on data no reward model is trained on.

    python -m biasgrpo.benchmarks.scorer_training                       # -> $BIASGRPO_CACHE/toxicity_scorer
    python -m biasgrpo.benchmarks.scorer_training --output-dir DIR --keep-layers 8

An evaluator trained like the reward, on the same data, grades the policy with the reward's own
blind spots (biasgrpo/benchmarks/independence.py). This scorer is trained on one source that no
reward-model recipe reads: ``paradetox/paradetox_cannot_rewrite.tsv`` (Logacheva et al. 2022),
comments that ParaDetox annotators could not rewrite, each labelled by them as toxic
(``toxic_content``) or not toxic (``not_toxic``); rows labelled unclear, both or neither are
dropped, and so is any text that also appears in ``paradetox.tsv`` (the reward models' and DPO's
ParaDetox pairs). Reward models read ``paradetox.tsv``, ToxiGen, Davidson (and the bias recipe
HolisticBias and the project's templates); none reads this file.

The model differs from the default reward model in its trunk too: the first ``keep_layers``
(default 8, the reward model keeps 6) layers of the embedded SmolLM2-135M with a fresh one-output
head, trained Bradley-Terry on (not toxic, toxic) pairs with the reward-model recipe's own code
(biasgrpo/rewards/training.py: ``fit``, Platt scaling on the validation split, the test figures),
and saved in the same folder layout (``biasgrpo_reward.json``, ``input_format=completion``), so
``benchmark.<b>.scorer=local_rm`` reads it. Its ``biasgrpo_reward.json`` records the sources.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import torch
from transformers import set_seed

from biasgrpo.config import LoggerConfig, RewardTrainingConfig
from biasgrpo.errors import DataError
from biasgrpo.logging import RunLogger
from biasgrpo.paths import cache_dir
from biasgrpo.rewards.classifier import ClassifierReward
from biasgrpo.rewards.preference import platt_scaling
from biasgrpo.rewards.rm_data import SPLITS, RewardPair, normalise, split_of
from biasgrpo.rewards.training import evaluate, fit, freeze_lower_layers, load_backbone, save, text_logits

SOURCE = "paradetox_cannot_rewrite"
FILE = "paradetox/paradetox_cannot_rewrite.tsv"
REWARD_PARADETOX = "paradetox/paradetox.tsv"
PROMPT = "Write a comment."
CARD_JSON = "scorer_card.json"


def read_labelled(path: Path, exclude: set[str]) -> list[tuple[str, bool]]:
    """(text, is_toxic) rows of ``paradetox_cannot_rewrite.tsv`` with one clear label.

    ``exclude``: lower-cased normalised texts to drop (those the reward models' data holds).
    """
    if not path.is_file():
        raise DataError(
            f"{path} is missing; point BIASGRPO_DATA_DIR (or --data-dir) at a folder laid out like shared/data"
        )
    out, seen = [], set()
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, [])
        if header[1:3] != ["INPUT:toxic_comment", "OUTPUT:reasons"]:
            raise DataError(f"{path}: unexpected header {header}")
        for row in reader:
            if len(row) < 3:
                continue
            try:
                reasons = json.loads(row[2])
            except json.JSONDecodeError:
                continue
            marks = {k for k, v in reasons.items() if v}
            if marks not in ({"toxic_content"}, {"not_toxic"}):
                continue
            text = normalise(row[1].strip().strip('"'))
            key = text.lower()
            if text and key not in exclude and key not in seen:
                seen.add(key)
                out.append((text, marks == {"toxic_content"}))
    return out


def reward_texts(data_dir: Path) -> set[str]:
    """Every text of the reward models' ParaDetox pairs (toxic and rewrites), lower-cased and normalised."""
    path = data_dir / REWARD_PARADETOX
    if not path.is_file():
        return set()
    return {
        normalise(field).lower()
        for line in path.read_text(encoding="utf-8").splitlines()[1:]
        for field in line.split("\t")
        if field.strip()
    }


def scorer_pairs(rows: list[tuple[str, bool]], rt: RewardTrainingConfig, seed: int) -> dict[str, list[RewardPair]]:
    """Split texts by a hash of their text, then pair each non-toxic text with toxic ones in its split.

    Toxic texts outnumber non-toxic ones about 3:1. In the training split each toxic text is used once
    and the non-toxic ones cycle, so every text is seen; in validation and test each text is used once
    (as many toxic as non-toxic texts), so that the calibration fitted on validation texts sees both
    classes equally often and P(toxic) = 0.5 is the even-odds line, not the 3:1 base rate of this file.
    Capped at ``train_pairs_per_source`` / ``eval_pairs_per_source``.
    """
    by_split: dict[str, dict[bool, list[str]]] = {s: {True: [], False: []} for s in SPLITS}
    for text, toxic in rows:
        by_split[split_of(text, seed, rt.val_fraction, rt.test_fraction)][toxic].append(text)
    rng = random.Random(seed)
    out = {}
    for split, texts in by_split.items():
        good, bad = texts[False], texts[True]
        rng.shuffle(good)
        rng.shuffle(bad)
        if not good or not bad:
            raise DataError(f"{SOURCE}: the {split} split has no {'non-toxic' if not good else 'toxic'} texts")
        if split == "train":
            pairs = [RewardPair(PROMPT, good[i % len(good)], b, SOURCE) for i, b in enumerate(bad)]
        else:
            pairs = [RewardPair(PROMPT, g, b, SOURCE) for g, b in zip(good, bad)]
        cap = rt.train_pairs_per_source if split == "train" else rt.eval_pairs_per_source
        out[split] = pairs[:cap] if cap else pairs
    return out


def train_scorer(
    data_dir: Path, out: Path, rt: RewardTrainingConfig, seed: int = 0, device: str = "cpu"
) -> dict[str, Any]:
    """Train, calibrate, test and save the scorer; returns its summary (also in ``scorer_card.json``)."""
    t0 = time.perf_counter()
    set_seed(seed)
    rows = read_labelled(data_dir / FILE, reward_texts(data_dir))
    splits = scorer_pairs(rows, rt, seed)
    model, tokenizer = load_backbone(rt)
    n_trainable = freeze_lower_layers(model, rt.train_layers)
    model.to(device)
    scorer = ClassifierReward("toxicity_scorer", model, tokenizer, "completion", rt.max_length, 64, (1.0, 0.0))
    print(
        f"[biasgrpo] toxicity scorer: {rt.backbone} trunk with {model.config.num_hidden_layers} layers, "
        f"{n_trainable:,} trainable parameters; {SOURCE} texts: {sum(not t for _, t in rows)} not toxic, "
        f"{sum(t for _, t in rows)} toxic; pairs " + ", ".join(f"{s}={len(p)}" for s, p in splits.items())
    )
    out.mkdir(parents=True, exist_ok=True)
    logger = RunLogger(out, LoggerConfig(kind="none"))
    steps = fit(scorer, splits, rt, seed, logger)
    summary = calibrate_and_test(scorer, splits)
    summary.update({"train/steps": steps, "rm/trainable_params": n_trainable, "perf/wall_s": time.perf_counter() - t0})
    summary["model_dir"] = str(out)
    save(scorer, out, rt, summary)
    write_card(out, rt, summary)
    print(f"[biasgrpo] toxicity scorer saved to {out}; test pairwise accuracy "
          f"{summary['eval/test/pairwise_accuracy']:.4f}, AUROC {summary['eval/test/auroc']:.4f}")  # fmt: skip
    return summary


def calibrate_and_test(scorer: ClassifierReward, splits: dict[str, list[RewardPair]]) -> dict[str, Any]:
    """Platt scaling on the validation texts, then the validation and test figures."""
    logits, labels, _, _ = text_logits(scorer, splits["val"])
    scorer.calibration = platt_scaling(logits, labels)
    return {
        **evaluate(scorer, splits["val"], "eval/val"),
        **evaluate(scorer, splits["test"], "eval/test"),
        **{f"data/{s}_pairs": len(p) for s, p in splits.items()},
    }


def recalibrate(data_dir: Path, out: Path, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Refit the calibration of a saved scorer on its validation split (as this version builds it) and
    redo its test figures; the weights are not touched. For a scorer saved by an earlier version."""
    from biasgrpo.rewards.classifier import META_FILE, load_classifier

    meta = json.loads((out / META_FILE).read_text())
    rt = RewardTrainingConfig(**meta["training"], output_dir=str(out))
    card = json.loads((out / CARD_JSON).read_text()) if (out / CARD_JSON).is_file() else {}
    model, tokenizer = load_classifier(str(out), torch.device(device))
    scorer = ClassifierReward("toxicity_scorer", model, tokenizer, "completion", rt.max_length, 64, (1.0, 0.0))
    splits = scorer_pairs(read_labelled(data_dir / FILE, reward_texts(data_dir)), rt, seed)
    summary = calibrate_and_test(scorer, splits)
    summary.update({k: v for k, v in card.get("run", {}).items() if k not in summary})
    summary.setdefault("rm/trainable_params", freeze_lower_layers(model, rt.train_layers))
    log = out / "metrics.jsonl"  # fit's log: its last row is the last step
    rows = log.read_text().splitlines() if log.is_file() else []
    summary.setdefault("train/steps", json.loads(rows[-1])["step"] if rows else 0)
    summary["model_dir"] = str(out)
    save(scorer, out, rt, summary)
    write_card(out, rt, summary)
    print(f"[biasgrpo] recalibrated {out}: a, b = {scorer.calibration}")
    return summary


def write_card(out: Path, rt: RewardTrainingConfig, summary: dict[str, Any]) -> None:
    """``scorer_card.json`` (sources, recipe, test figures; scorer_validation.py adds Perspective figures)
    and a README.md model card in place of the reward model's."""
    card_path = out / CARD_JSON
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card.update(
        {
            "role": "toxicity scorer for BOLD / RealToxicityPrompts (P(toxic) = 1 - calibrated score)",
            "sources": list(rt.sources),
            "disjoint_from": "every reward-model source (paradetox.tsv, toxigen, davidson, holisticbias, templates)",
            "backbone": rt.backbone if rt.backbone != "hub" else rt.backbone_path,
            "keep_layers": rt.keep_layers,
            "train_layers": rt.train_layers,
            "objective": rt.objective,
            "test": {k.removeprefix("eval/test/"): v for k, v in summary.items() if k.startswith("eval/test/")},
            "pairs": {k.removeprefix("data/"): v for k, v in summary.items() if k.startswith("data/")},
            "run": {k: summary[k] for k in ("train/steps", "rm/trainable_params", "perf/wall_s") if k in summary},
        }
    )
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    (out / "README.md").write_text(card_markdown(card))


def card_markdown(card: dict[str, Any]) -> str:
    """The model card, from ``scorer_card.json`` (rewritten whenever the card changes)."""
    test = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(card.get("test", {}).items()))
    text = f"""# Toxicity scorer (BiasGRPO, independent of the reward models)

P(toxic) = 1 − σ(a·s + b) for the head output s (`biasgrpo_reward.json` holds a, b); read by
`benchmark.<b>.scorer=local_rm benchmark.<b>.scorer_path=<this folder>`.

- Training data: {", ".join(card["sources"])} (ParaDetox comments its annotators could not rewrite,
  labelled toxic or not toxic; texts that also appear in paradetox.tsv dropped). Disjoint from
  {card["disjoint_from"]}.
- Model: {card["backbone"]}, first {card["keep_layers"]} layers, the last {card["train_layers"]} trained,
  one-output head, objective {card["objective"]}. Pairs: {card.get("pairs", {})}.
- Trained by `python -m biasgrpo.benchmarks.scorer_training`.

## Held-out test figures (its own data)
| metric | value |
|---|---|
{test}
"""
    if card.get("perspective_validation"):
        text += validation_markdown(card["perspective_validation"])
    return (
        text
        + """
## Limitations
Trained on English online comments (Reddit, Twitter, Wikipedia talk pages) that ParaDetox annotators
could not rewrite; one source, so its notion of toxicity is that of those annotators on those texts.
Scores of other kinds of text (web prose, model continuations) are checked only by the agreement
with Perspective above, when recorded.
"""
    )


VALIDATION_HEADING = "## Agreement with Perspective API"


def validation_markdown(record: dict[str, Any]) -> str:
    """The model card's section on agreement with Perspective (benchmarks/scorer_validation.py)."""
    rows = "\n".join(
        f"| {name} | {v['n']} | {v['spearman']:.4f} | {v['pearson']:.4f} | {v['auroc']:.4f} | {v['n_toxic']} |"
        for name, v in record["figures"].items()
    )
    return f"""
{VALIDATION_HEADING} (RealToxicityPrompts; validation only, never trained or calibrated on)
`{record["command"]}`; AUROC of the scorer for Perspective toxicity >= 0.5.

| texts | n | Spearman | Pearson | AUROC | n toxic |
|---|---|---|---|---|---|
{rows}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("BIASGRPO_DATA_DIR", ""))
    parser.add_argument("--output-dir", default=str(cache_dir() / "toxicity_scorer"))
    parser.add_argument("--backbone", default="smollm2_gguf", choices=("smollm2_gguf", "hub", "tiny"))
    parser.add_argument("--backbone-path", default="")
    parser.add_argument("--keep-layers", type=int, default=8)
    parser.add_argument("--train-layers", type=int, default=2)
    parser.add_argument("--train-pairs", type=int, default=3000)
    parser.add_argument("--eval-pairs", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recalibrate", action="store_true", help="refit the calibration of --output-dir only")
    args = parser.parse_args(argv)
    if not args.data_dir or not Path(args.data_dir).is_dir():
        parser.error("--data-dir (or BIASGRPO_DATA_DIR) must be a folder laid out like shared/data")
    if args.recalibrate:
        recalibrate(Path(args.data_dir), Path(args.output_dir).expanduser(), args.seed, args.device)
        return
    rt = RewardTrainingConfig(
        backbone=args.backbone,
        backbone_path=args.backbone_path,
        keep_layers=args.keep_layers,
        train_layers=args.train_layers,
        sources=[SOURCE],
        train_pairs_per_source=args.train_pairs,
        eval_pairs_per_source=args.eval_pairs,
        epochs=args.epochs,
        eval_every=0,
        output_dir=args.output_dir,
    )
    train_scorer(Path(args.data_dir), Path(args.output_dir).expanduser(), rt, args.seed, args.device)


if __name__ == "__main__":
    main()
