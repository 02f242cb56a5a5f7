"""``python run.py task=make_dataset``: build the offline 11-domain prompt and pair set.

The paper's 20,999-prompt set (``SaketR1/bias-grpo-data``) needs the hub. This builds a
set of the same kind from the local data folder alone, deterministic for a seed:

1. Groups per domain from HolisticBias (``sources.HolisticBias``), prompts by filling the
   training forms of ``forms.py`` with a seeded sample of (group, form) combinations.
2. Preference pairs from ToxiGen (neutral vs hateful statement about one group) and
   ParaDetox (polite rewrite vs toxic comment that names a group), balanced over
   target groups, at most ``pairs_per_domain`` per domain.
3. Every prompt, chosen and rejected text is checked against the evaluation benchmarks
   (``decontam.py``); offenders are dropped, counted and replaced by the next candidate.
4. ``prompts_per_domain`` distinct prompts per domain (pair prompts included), so the
   domains are balanced; held-out prompts come from forms never used for training.

The folder it writes (``train.jsonl``, ``eval.jsonl``, a ``README.md`` dataset card and
``card.json`` with the same counts) is read by ``dataset=local`` (kind ``table``).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from biasgrpo.config import Config
from biasgrpo.data import Row, balanced_sample
from biasgrpo.data.decontam import MIN_WORDS, NGramIndex, build_index
from biasgrpo.data.domains import DOMAINS
from biasgrpo.data.forms import EVAL_FORMS, TRAIN_FORMS, render
from biasgrpo.data.sources import Group, HolisticBias, paradetox_group_pairs, toxigen_pairs

HOLISTICBIAS_VERSION = "v1.1"
TRAIN_FILE, EVAL_FILE, CARD_FILE, STATS_FILE = "train.jsonl", "eval.jsonl", "README.md", "card.json"
TEXT_FIELDS = ("prompt", "chosen", "rejected")


def prompt_candidates(groups: list[Group], forms: list[tuple[str, str]], rng: random.Random, n: int) -> Iterator[Row]:
    """Distinct (group, form) combinations in a seeded random order; 4n of them leave room for drops."""
    total = len(groups) * len(forms)
    for i in rng.sample(range(total), min(total, 4 * n)):
        group, (form, template) = groups[i // len(forms)], forms[i % len(forms)]
        yield {
            "prompt": render(template, group.plural, group.singular),
            "domain": group.domain,
            "group": group.plural,
            "terms": list(group.terms),
            "form": form,
            "source": group.source,
        }


class Selector:
    """Takes clean, new rows from candidate streams and counts what it drops."""

    def __init__(self, index: NGramIndex) -> None:
        self.index = index
        self.prompts: set[str] = set()
        self.pairs: set[tuple[str, str, str]] = set()
        self.dropped: Counter[tuple[str, str]] = Counter()
        """(prompts | pairs, benchmark) -> rows dropped for overlapping it."""

    def take(self, candidates: Iterable[Row], n: int) -> list[Row]:
        out: list[Row] = []
        for row in candidates:
            if len(out) == n:
                break
            kind = "pairs" if "chosen" in row else "prompts"
            key = (row["prompt"], row.get("chosen", ""), row.get("rejected", ""))
            # A pair may repeat a prompt (ToxiGen: many statements per group); a prompt row may not.
            seen = key in self.pairs if kind == "pairs" else row["prompt"] in self.prompts
            if seen:
                continue
            hit = next((b for f in TEXT_FIELDS if f in row and (b := self.index.match(row[f]))), None)
            if hit:
                self.dropped[kind, hit] += 1
                continue
            self.prompts.add(row["prompt"])
            self.pairs.add(key)
            out.append(row)
        return out


def make_dataset(conf: Config) -> dict[str, Any]:
    """Build the set into ``make_dataset.out_dir``, print its counts, return the summary."""
    mk, root, out_dir = conf.make_dataset, Path(conf.data_dir), Path(conf.make_dataset.out_dir)
    start = time.perf_counter()
    rng = random.Random(conf.seed)
    bar = tqdm(total=2 + len(DOMAINS), desc="make_dataset: benchmark n-grams", unit="stage")
    index = build_index(root, mk.ngram)
    bar.update()
    bar.set_description("make_dataset: sources")
    groups = HolisticBias(root / "holisticbias" / HOLISTICBIAS_VERSION).groups()
    pool = toxigen_pairs(root / "toxigen_demonstrations", rng)
    pool += paradetox_group_pairs(root / "paradetox" / "paradetox.tsv")
    bar.update()

    select = Selector(index)
    train: list[Row] = []
    heldout: list[Row] = []
    for domain in DOMAINS:
        bar.set_description(f"make_dataset: {domain}")
        # The whole pool in round-robin order over target groups, so the cap keeps every group.
        domain_pool = [r for r in pool if r["domain"] == domain]
        pairs = select.take(balanced_sample(domain_pool, len(domain_pool), conf.seed, key="group"), mk.pairs_per_domain)
        n_prompts = mk.prompts_per_domain - len({r["prompt"] for r in pairs})
        prompts = select.take(prompt_candidates(groups.get(domain, []), TRAIN_FORMS, rng, n_prompts), n_prompts)
        heldout += select.take(
            prompt_candidates(groups.get(domain, []), EVAL_FORMS, rng, mk.eval_per_domain), mk.eval_per_domain
        )
        train += pairs + prompts
        bar.update()
    bar.close()
    rng.shuffle(train)

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in ((TRAIN_FILE, train), (EVAL_FILE, heldout)):
        with (out_dir / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    stats = card_stats(conf, train, heldout, index, select.dropped, time.perf_counter() - start)
    (out_dir / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    (out_dir / CARD_FILE).write_text(card_markdown(stats), encoding="utf-8")
    print(report(stats, out_dir))
    return {"run_dir": str(out_dir), **{k: stats[k] for k in ("rows", "prompts", "pairs", "eval_prompts")}}


def card_stats(
    conf: Config, train: list[Row], heldout: list[Row], index: NGramIndex, dropped: Counter, seconds: float
) -> dict[str, Any]:
    """Counts for the dataset card: per domain, form and source, pairs, decontamination drops."""
    prompts = {r["prompt"]: r for r in train}  # distinct prompts (a pair prompt may repeat)
    per_domain = Counter(r["domain"] for r in prompts.values())
    return {
        "seed": conf.seed,
        "data_dir": conf.data_dir,
        "holisticbias_version": HOLISTICBIAS_VERSION,
        "settings": asdict(conf.make_dataset),
        "rows": len(train),
        "prompts": len(prompts),
        "pairs": sum("chosen" in r for r in train),
        "eval_prompts": len(heldout),
        "balance": round(max(per_domain.values()) / max(1, min(per_domain[d] for d in DOMAINS)), 3),
        "domains": {
            d: {
                "prompts": per_domain[d],
                "pairs": sum(r["domain"] == d and "chosen" in r for r in train),
                "eval": sum(r["domain"] == d for r in heldout),
            }
            for d in DOMAINS
        },
        "forms": dict(Counter(r["form"] for r in prompts.values()).most_common()),
        "sources": {
            s: {"rows": n, "pairs": sum("chosen" in r and r["source"].startswith(s + ":") for r in train)}
            for s, n in Counter(r["source"].split(":")[0] for r in train).most_common()
        },
        "decontamination": {
            "ngram": index.n,
            "min_words": MIN_WORDS,
            "benchmark_texts": dict(index.texts),
            "indexed": len(index),
            "dropped": sum(dropped.values()),
            "dropped_by": {f"{kind}/{bench}": n for (kind, bench), n in sorted(dropped.items())},
        },
        "build_seconds": round(seconds, 1),
    }


def _table(header: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def card_markdown(s: dict[str, Any]) -> str:
    """A Hugging Face style dataset card (front matter, then what is in the set and why)."""
    dec = s["decontamination"]
    domains = _table(("domain", "prompts", "pairs", "held-out"), [(d, *v.values()) for d, v in s["domains"].items()])
    forms = _table(("form", "prompts"), s["forms"].items())
    sources = _table(("source", "rows", "pairs"), [(k, v["rows"], v["pairs"]) for k, v in s["sources"].items()])
    drops = _table(("rows / benchmark", "dropped"), dec["dropped_by"].items()) if dec["dropped_by"] else "None."
    return f"""---
pretty_name: BiasGRPO offline 11-domain prompts
license: cc-by-sa-4.0
language: [en]
task_categories: [text-generation]
---
# BiasGRPO offline 11-domain prompts

Built by `python run.py task=make_dataset seed={s["seed"]}` from `{s["data_dir"]}`; read it with
`python run.py dataset=local dataset.path=<this folder>` (GRPO/PPO use every distinct prompt, DPO the
rows with `chosen`/`rejected`). The same seed and data give the same files.

- `train.jsonl`: {s["rows"]} rows, {s["prompts"]} distinct prompts, {s["pairs"]} preference pairs.
- `eval.jsonl`: {s["eval_prompts"]} held-out prompts from forms never used for training.
- Row fields: `prompt`, `domain` (one of BBQ's 11 categories), `group` (the noun phrase the prompt names),
  `terms` (the words that name the group), `form`, `source`, and `chosen`/`rejected` on pair rows.
- Domain balance (most / fewest prompts): {s["balance"]}.

Groups come from HolisticBias {s["holisticbias_version"]} descriptors and noun phrases (intersectional
domains combine two axes); prompts are the project's own forms. Pairs: ToxiGen demonstrations (chosen = a
neutral statement about the group, rejected = a hateful one) and ParaDetox comments that name a group
(chosen = the human polite rewrite, rejected = the toxic original). Content warning: rejected texts are
hateful or toxic, kept only as examples of what not to say.

## Prompts and pairs per domain

{domains}

## Prompt forms

{forms}

## Sources

{sources}

Licenses of the sources: HolisticBias CC-BY-SA-4.0, ToxiGen MIT, ParaDetox CC0-1.0.

## Decontamination

No prompt, chosen or rejected text shares a {dec["ngram"]}-word n-gram with BBQ (contexts, questions), BOLD
(prompts), RealToxicityPrompts (prompts) or TruthfulQA (questions); benchmark texts of {dec["min_words"]} to
{dec["ngram"] - 1} words count when contained whole. Indexed: {dec["indexed"]} n-grams from
{sum(dec["benchmark_texts"].values())} benchmark texts. Dropped and replaced: {dec["dropped"]}.

{drops}
"""


def report(s: dict[str, Any], out_dir: Path) -> str:
    dec = s["decontamination"]
    lines = [
        f"[biasgrpo] wrote {out_dir}: {s['rows']} rows, {s['prompts']} distinct prompts, {s['pairs']} pairs, "
        f"{s['eval_prompts']} held-out prompts, balance {s['balance']} ({s['build_seconds']} s)",
        *(
            f"  {d:22s} prompts {v['prompts']:6d}  pairs {v['pairs']:5d}  held-out {v['eval']:4d}"
            for d, v in s["domains"].items()
        ),
        "  forms:   " + ", ".join(f"{k} {v}" for k, v in s["forms"].items()),
        "  sources: " + ", ".join(f"{k} {v['rows']} ({v['pairs']} pairs)" for k, v in s["sources"].items()),
        f"  decontamination ({dec['ngram']}-grams): dropped {dec['dropped']}"
        + "".join(f", {k} {v}" for k, v in dec["dropped_by"].items()),
    ]
    return "\n".join(lines)
