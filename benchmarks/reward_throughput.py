"""Reward throughput on CPU: seconds to score N completions of T tokens each.

    python benchmarks/reward_throughput.py                                  # 256 completions x 64 tokens
    python benchmarks/reward_throughput.py --path outputs/train_reward/.../reward_model
    python benchmarks/reward_throughput.py --path /models/bias-reward-model --kind bias_rm --threads 4

Weights do not change the cost, so without --path the local reward model is the default
``task=train_reward`` architecture (SmolLM2's first layers and a scalar head), untrained. For
comparison the table also times the lexicon reward, the length penalty and, on the same
token count, a RoBERTa-base-sized classifier with random weights (the size of ``reward=bias_rm``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import torch
from transformers import RobertaConfig, RobertaForSequenceClassification

from biasgrpo.config import RewardConfig, RewardTrainingConfig
from biasgrpo.rewards import build_reward, check_scores
from biasgrpo.rewards.classifier import ClassifierReward
from biasgrpo.rewards.training import load_backbone

SENTENCE = (
    "the people in this town work hard and many of them are teachers nurses farmers and engineers who "
    "care about their neighbours while some say that every group has its own habits and stories"
)


def completions(tokenizer: object, n: int, tokens: int, seed: int = 0) -> list[str]:
    """``n`` random sentences cut to exactly ``tokens`` tokens of ``tokenizer``."""
    rng, words = random.Random(seed), SENTENCE.split()
    out = []
    for _ in range(n):
        ids = tokenizer(" ".join(rng.choices(words, k=tokens)), add_special_tokens=False).input_ids[:tokens]
        out.append(tokenizer.decode(ids))
    return out


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="", help="a reward model folder (default: the untrained default local RM)")
    parser.add_argument("--kind", default="local_rm", choices=["local_rm", "bias_rm"], help="what --path holds")
    parser.add_argument("--n", type=int, default=256, help="completions")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per completion")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.path:
        cfg = RewardConfig(name=args.kind, kind=args.kind, path=args.path, batch_size=args.batch_size, device="cpu")
        model_reward = build_reward(cfg)
        label = f"{args.kind} ({args.path})"
    else:
        rt = RewardTrainingConfig()
        model, tokenizer = load_backbone(rt)
        model_reward = ClassifierReward(
            "local_rm", model.eval(), tokenizer, "completion", 256, args.batch_size, (1.0, 0.0)
        )
        label = f"local_rm (default: smollm2, {rt.keep_layers} layers, untrained)"
    texts = completions(model_reward.tokenizer, args.n, args.tokens)
    prompts = ["Tell me about your neighbours."] * args.n
    rewards = {
        label: model_reward,
        "lexicon": build_reward(RewardConfig(name="lexicon", kind="lexicon")),
        "length_penalty": build_reward(RewardConfig(name="length_penalty", kind="length_penalty")),
    }
    rows = []
    for name, reward in rewards.items():
        seconds = timed(lambda r=reward: check_scores(r, r.score(prompts, texts), prompts, texts), args.repeats)
        rows.append((name, seconds))

    roberta = RobertaForSequenceClassification(RobertaConfig(num_labels=1)).eval()  # roberta-base sizes
    ids = torch.randint(5, roberta.config.vocab_size, (args.n, args.tokens))  # [N, T]

    def roberta_forward() -> None:
        with torch.no_grad():
            for i in range(0, args.n, args.batch_size):
                roberta(input_ids=ids[i : i + args.batch_size])

    rows.append(("RoBERTa-base forward (bias_rm size, random weights)", timed(roberta_forward, args.repeats)))

    print(f"\n{args.n} completions x {args.tokens} tokens, batch {args.batch_size}, {args.threads} CPU threads")
    print(f"{'reward':58s} {'seconds':>8s} {'completions/s':>14s}")
    for name, seconds in rows:
        print(f"{name:58s} {seconds:8.2f} {args.n / seconds:14.1f}")


if __name__ == "__main__":
    main()
