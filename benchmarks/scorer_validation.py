"""Validate the offline toxicity scorer against Perspective API on RealToxicityPrompts.

    python benchmarks/scorer_validation.py                                 # $BIASGRPO_CACHE/toxicity_scorer
    python benchmarks/scorer_validation.py --scorer-path DIR --record      # and write it next to the model
    python benchmarks/scorer_validation.py --scorer classifier --scorer-path s-nlp/roberta_toxicity_classifier

Scores the 4,773 non-empty RealToxicityPrompts prompts and human continuations of the local copy
(``$BIASGRPO_DATA_DIR/realtoxicityprompts``) with the scorer BOLD and RTP use, and prints Spearman ρ,
Pearson r and AUROC at Perspective >= 0.5 for prompts, continuations and all together
(biasgrpo/benchmarks/perspective.py). These texts are for validation only: nothing is trained or
calibrated on them. ``--record`` writes ``perspective_validation.json`` into the scorer's folder and,
for a scorer trained by ``python -m biasgrpo.benchmarks.scorer_training``, adds the figures to its
``scorer_card.json`` and README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from biasgrpo.benchmarks.perspective import agreement, perspective_texts
from biasgrpo.benchmarks.scorer_training import CARD_JSON, VALIDATION_HEADING, card_markdown, validation_markdown
from biasgrpo.benchmarks.toxicity import build_scorer
from biasgrpo.config import BenchmarkConfig

GOAL = {"spearman": 0.75, "auroc": 0.90}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("BIASGRPO_DATA_DIR", ""))
    parser.add_argument("--scorer", default="local_rm", choices=("local_rm", "classifier"))
    parser.add_argument("--scorer-path", default="", help="folder or hub id; empty: the default local scorer")
    parser.add_argument("--toxic-label", default="", help="scorer=classifier: the toxic label's name")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--record", action="store_true", help="write the figures next to the scorer")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data_dir or not (Path(args.data_dir) / "realtoxicityprompts").is_dir():
        parser.error("--data-dir (or BIASGRPO_DATA_DIR) must hold realtoxicityprompts/{toxic,nontoxic}.jsonl")
    cfg = BenchmarkConfig(
        kind="rtp", scorer=args.scorer, scorer_path=args.scorer_path, toxic_label=args.toxic_label,
        batch_size=args.batch_size,
    )  # fmt: skip
    scorer = build_scorer("rtp", cfg, "cpu")
    parts = perspective_texts(args.data_dir)
    t0 = time.perf_counter()
    scores = {part: scorer.toxicity([t for t, _ in rows]) for part, rows in parts.items()}
    seconds = time.perf_counter() - t0
    truth = {part: torch.tensor([s for _, s in rows]) for part, rows in parts.items()}
    figures = {part: agreement(scores[part], truth[part]) for part in parts}
    figures["all"] = agreement(torch.cat(list(scores.values())), torch.cat(list(truth.values())))

    print(f"scorer: {scorer.description}  ({sum(len(r) for r in parts.values())} texts scored in {seconds:.0f} s)")
    print(f"{'texts':<14} {'n':>6} {'n_toxic':>8} {'spearman':>9} {'pearson':>8} {'auroc':>7}")
    for name, f in figures.items():
        print(f"{name:<14} {f['n']:>6} {f['n_toxic']:>8} {f['spearman']:>9.4f} {f['pearson']:>8.4f} {f['auroc']:>7.4f}")
    met = all(figures["all"][k] >= v for k, v in GOAL.items())
    print(
        f"goal on all texts (spearman >= {GOAL['spearman']}, auroc >= {GOAL['auroc']}): {'met' if met else 'not met'}"
    )

    if args.record:
        folder = Path(scorer.description.split(":", 1)[1].split("[")[0]).expanduser()
        if not folder.is_dir():
            sys.exit(f"--record: {folder} is not a folder (a hub scorer has none to write to)")
        command = "python benchmarks/scorer_validation.py " + " ".join(sys.argv[1:])
        record = {"scorer": scorer.description, "command": command, "figures": figures}
        (folder / "perspective_validation.json").write_text(json.dumps(record, indent=2) + "\n")
        card_path = folder / CARD_JSON
        if card_path.is_file():
            card = json.loads(card_path.read_text())
            card["perspective_validation"] = record
            card_path.write_text(json.dumps(card, indent=2) + "\n")
            (folder / "README.md").write_text(card_markdown(card))
        else:  # a reward-model folder (task=train_reward): its card gets the section, replacing an older one
            readme = folder / "README.md"
            text = readme.read_text().split("\n" + VALIDATION_HEADING)[0] if readme.is_file() else ""
            readme.write_text(text.rstrip("\n") + "\n" + validation_markdown(record))
        print(f"recorded in {folder}")


if __name__ == "__main__":
    main()
