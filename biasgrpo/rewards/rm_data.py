"""Preference pairs for training a bias reward model, read from the local data folder.

Each source contrasts a respectful text (chosen) with a harmful one (rejected):

- paradetox: a toxic comment and its human non-toxic rewrite (Logacheva et al. 2022);
- toxigen: a hateful and a neutral human-written statement about the same group (Hartvigsen et al. 2022);
- davidson: a tweet coders labelled "neither" and one labelled offensive or hate (Davidson et al. 2017);
- bias: answers to prompts about groups built from the project's templates: a respectful on-topic
  answer vs a stereotyped, toxic or evasive one (``bias_pairs.py``; read it with
  ``input_format=prompt_completion``). It reads the data folder itself (every file optional).

Rows are split before they are paired. A row's split is a hash of the seed and its
normalised text, so a pair, and even a text repeated in two rows, never crosses
train / validation / test.
"""

from __future__ import annotations

import csv
import hashlib
import html
import itertools
import random
import re
from dataclasses import dataclass
from pathlib import Path

from biasgrpo.config import RewardTrainingConfig
from biasgrpo.data.pairs import read_paradetox
from biasgrpo.errors import DataError

SPLITS = ("train", "val", "test")
FILES = {
    "paradetox": "paradetox/paradetox.tsv",
    "toxigen": "toxigen_demonstrations",
    "davidson": "davidson_hate_offensive/labeled_data.csv",
    "bias": "",  # the data folder itself: bias_pairs.py reads what it finds there
}
SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RewardPair:
    prompt: str
    chosen: str
    rejected: str
    source: str
    chosen_target: float = 1.0
    """Regression target of ``chosen`` in [0, 1] (1 = respectful)."""
    rejected_target: float = 0.0
    group: str = ""
    """The group the prompt is about, where the source knows it (bias)."""


Splits = dict[str, list[RewardPair]]


def normalise(text: str) -> str:
    return SPACES.sub(" ", text).strip()


def split_of(key: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """train | val | test for a source row, from a hash of (seed, its lower-cased text)."""
    digest = hashlib.sha256(f"{seed}\0{normalise(key).lower()}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def round_robin(buckets: list[list[RewardPair]]) -> list[RewardPair]:
    """One pair from each bucket in turn, so a cap keeps every bucket (group) represented."""
    return [p for row in itertools.zip_longest(*buckets) for p in row if p is not None]


def paradetox_pairs(path: Path, cfg: RewardTrainingConfig, seed: int) -> Splits:
    """Chosen = the first human rewrite, rejected = the toxic original; split by the toxic text."""
    rows, _ = read_paradetox(path, on_bad_row="skip")
    out: Splits = {s: [] for s in SPLITS}
    for row in rows:
        split = split_of(row["rejected"], seed, cfg.val_fraction, cfg.test_fraction)
        out[split].append(RewardPair(row["prompt"], row["chosen"], row["rejected"], "paradetox"))
    return out


def toxigen_pairs(folder: Path, cfg: RewardTrainingConfig, seed: int) -> Splits:
    """Every (neutral, hateful) combination about the same group, within each split.

    The group and label come from the file name, ``<axis>/{hate|neutral}_<group>[_sentences].txt``.
    The first letter is upper-cased: the hateful files are mostly lower case and the neutral
    ones not, and the model should not learn case as a cue.
    """
    texts: dict[tuple[str, str, str], set[str]] = {}  # (split, group, label) -> sentences
    files = sorted(folder.glob("*/*.txt"))
    if not files:
        raise DataError(f"{folder}: no <axis>/<label>_<group>.txt files")
    for file in files:
        label, _, group = file.stem.removesuffix("_sentences").partition("_")
        if label not in ("hate", "neutral"):
            continue
        for line in file.read_text(encoding="utf-8").splitlines():
            text = normalise(line)
            if text:
                split = split_of(text, seed, cfg.val_fraction, cfg.test_fraction)
                texts.setdefault((split, group, label), set()).add(text[0].upper() + text[1:])
    out: Splits = {}
    rng = random.Random(seed)
    for split in SPLITS:
        buckets = []
        for group in sorted({g for s, g, _ in texts if s == split}):
            prompt = f"Write a sentence about {group.replace('_', ' ')} people."
            neutral, hate = (sorted(texts.get((split, group, label), ())) for label in ("neutral", "hate"))
            bucket = [RewardPair(prompt, n, h, "toxigen") for n, h in itertools.product(neutral, hate)]
            rng.shuffle(bucket)
            buckets.append(bucket)
        out[split] = round_robin(buckets)
    return out


def davidson_pairs(path: Path, cfg: RewardTrainingConfig, seed: int) -> Splits:
    """A "neither" tweet paired with an offensive-or-hate tweet, each used once, within each split.

    The regression target of a tweet is the share of its coders who voted "neither".
    """
    tweets: dict[tuple[str, bool], list[tuple[str, float]]] = {}  # (split, is_neither) -> (text, target)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if header[1:7] != ["count", "hate_speech", "offensive_language", "neither", "class", "tweet"]:
            raise DataError(f"{path}: unexpected header {header}")
        for number, row in enumerate(reader, start=2):
            try:
                count, neither, label, tweet = int(row[1]), int(row[4]), int(row[5]), row[6]
            except (IndexError, ValueError) as err:
                raise DataError(f"{path}: record {number} is malformed: {err}") from err
            text = normalise(html.unescape(tweet))
            if text and count > 0:
                split = split_of(text, seed, cfg.val_fraction, cfg.test_fraction)
                tweets.setdefault((split, label == 2), []).append((text, neither / count))
    rng = random.Random(seed)
    out: Splits = {}
    for split in SPLITS:
        good, bad = tweets.get((split, True), []), tweets.get((split, False), [])
        rng.shuffle(good)
        rng.shuffle(bad)
        out[split] = [RewardPair("Write a tweet.", g, b, "davidson", gt, bt) for (g, gt), (b, bt) in zip(good, bad)]
    return out


def bias_pairs(path: Path, cfg: RewardTrainingConfig, seed: int) -> Splits:
    """Pairs about groups, split by group, template, wording and source text (``bias_pairs.py``)."""
    from biasgrpo.rewards.bias_pairs import bias_pairs as build

    return build(path, cfg, seed)


READERS = {"paradetox": paradetox_pairs, "toxigen": toxigen_pairs, "davidson": davidson_pairs, "bias": bias_pairs}


def load_reward_pairs(cfg: RewardTrainingConfig, data_dir: str, seed: int) -> Splits:
    """Train / val / test pairs from ``cfg.sources``, each source capped and shuffled (seeded)."""
    out: Splits = {s: [] for s in SPLITS}
    for source in cfg.sources:
        path = Path(data_dir) / FILES[source]
        if not path.exists():
            raise DataError(
                f"{path} is missing: reward_training.sources lists {source!r}. Point BIASGRPO_DATA_DIR "
                f"(or data_dir=) at a folder laid out like shared/data, or drop {source!r} from the sources"
            )
        splits = READERS[source](path, cfg, seed)
        for split, pairs in splits.items():
            cap = cfg.train_pairs_per_source if split == "train" else cfg.eval_pairs_per_source
            if source not in ("toxigen", "bias"):  # toxigen is interleaved by group; bias is drawn at random
                random.Random(seed).shuffle(pairs)
            out[split] += pairs[:cap] if cap else pairs
    for split, pairs in out.items():
        if not pairs:
            raise DataError(f"no {split} pairs from sources {cfg.sources} in {data_dir}")
        random.Random(seed).shuffle(pairs)
    return out
