"""Which input format and score direction fit the paper's reward model? Ask its own training data.

    python -m biasgrpo.rewards.agreement                                  # hub: model and data
    python -m biasgrpo.rewards.agreement --path DIR --data DIR --limit 2000  # local copies

``SaketR1/bias-reward-model`` (``reward=bias_rm``) was trained on the favourable and
unfavourable completions of ``SaketR1/bias-grpo-data``; its card does not say whether it read
the completion alone or the prompt with it. This scores both completions of each row under
both ``input_format`` settings and prints, per setting, the pairwise accuracy (share of rows
whose favourable completion scores higher; ties count half) and Spearman's ρ between the
score and the label (favourable 1, unfavourable 0) over all scored texts. The setting with
the higher accuracy is the one to use; an accuracy well below 0.5 means the score runs the
other way (higher = more biased). Needs the hub (or local copies of both): without them it
stops, saying so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch

from biasgrpo.config import INPUT_FORMATS, RewardConfig
from biasgrpo.errors import BiasGRPOError
from biasgrpo.rewards.preference import pairwise_accuracy, spearman

DATA_ID = "SaketR1/bias-grpo-data"
COLUMNS = {"domain": "category", "chosen": "favorable_completion", "rejected": "unfavorable_completion"}
Scorer = Callable[[list[str], list[str]], torch.Tensor]


def agreement(prompts: list[str], favourable: list[str], unfavourable: list[str], score: Scorer) -> dict[str, float]:
    """Pairwise accuracy and Spearman ρ (score vs label) of one scorer on (favourable, unfavourable) rows."""
    fav = score(prompts, favourable).double()
    unfav = score(prompts, unfavourable).double()
    labels = torch.cat([torch.ones(len(fav)), torch.zeros(len(unfav))]).double()
    return {
        "pairwise_accuracy": float(pairwise_accuracy(fav, unfav)),
        "spearman": float(spearman(torch.cat([fav, unfav]), labels)),
        "mean_favourable": float(fav.mean()),
        "mean_unfavourable": float(unfav.mean()),
        "rows": float(len(fav)),
    }


def compare_formats(
    prompts: list[str], favourable: list[str], unfavourable: list[str], scorers: dict[str, Scorer]
) -> dict[str, dict[str, float]]:
    """:func:`agreement` for each input format's scorer."""
    return {fmt: agreement(prompts, favourable, unfavourable, score) for fmt, score in scorers.items()}


def verdict(results: dict[str, dict[str, float]]) -> str:
    """The input format and score direction the figures support."""
    best = max(results, key=lambda f: abs(results[f]["pairwise_accuracy"] - 0.5))
    acc = results[best]["pairwise_accuracy"]
    direction = "higher = favourable (as reward=bias_rm assumes)" if acc >= 0.5 else "higher = UNfavourable: flip it"
    return f"use reward.input_format={best}; its score runs {direction} (pairwise accuracy {acc:.4f})"


def load_rows(data: str, limit: int) -> tuple[list[str], list[str], list[str]]:
    """(prompts, favourable, unfavourable) of the rows with both completions, the first ``limit`` (0 = all)."""
    from biasgrpo.data.table import read_table

    train, heldout, _ = read_table(data, "" if data else DATA_ID, COLUMNS, "skip")
    rows = [r for r in [*train, *(heldout or [])] if r["chosen"] and r["rejected"]]
    rows = rows[:limit] if limit else rows
    return [r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows]


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="", help="a local copy of SaketR1/bias-reward-model (default: the hub)")
    parser.add_argument("--data", default="", help=f"a local copy of {DATA_ID} (default: the hub)")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N rows (0 = all)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)
    from biasgrpo.rewards.classifier import load_bias_rm

    try:
        prompts, fav, unfav = load_rows(args.data, args.limit)
        scorers = {}
        for fmt in INPUT_FORMATS:
            cfg = RewardConfig(name="bias_rm", kind="bias_rm", path=args.path, input_format=fmt, device=args.device)
            scorers[fmt] = load_bias_rm(cfg).score
    except BiasGRPOError as err:
        print(
            f"error: {err}\n\nThis check needs the Hugging Face hub (network) or local copies of "
            f"SaketR1/bias-reward-model (--path) and {DATA_ID} (--data). It could not run here, so no "
            f"figures were produced.",
            file=sys.stderr,
        )
        raise SystemExit(2) from err
    results = compare_formats(prompts, fav, unfav, scorers)
    print(f"{'input_format':20s} {'pairwise_acc':>12s} {'spearman':>9s} {'mean_fav':>9s} {'mean_unfav':>10s}  rows")
    for fmt, r in results.items():
        print(
            f"{fmt:20s} {r['pairwise_accuracy']:12.4f} {r['spearman']:9.4f} {r['mean_favourable']:9.4f} "
            f"{r['mean_unfavourable']:10.4f}  {int(r['rows'])}"
        )
    print(verdict(results))
    return results


if __name__ == "__main__":
    main()
