"""Is the evaluator independent of the reward? A scorer must not grade its own homework.

A training run is judged by its benchmarks' toxicity scorers (BOLD, RTP). When the reward the
policy maximises is the same model as a scorer, or was trained on a source a scorer was
trained on, the policy can learn that model's blind spots and the benchmark rewards it for
them: the figures then measure fit to the reward, not less toxicity. So a training run whose
reward and a scorer share a model folder or a training source refuses to start unless
``eval.allow_shared_scorer=true``; either way the summary records both sides
(``independence/*``).

Sources come from the ``biasgrpo_reward.json`` a folder was saved with (``training.sources``);
the paper's reward model (``bias_rm`` from the hub) was trained on ``SaketR1/bias-grpo-data``; a
hub classifier with no such file has unknown sources, which cannot be checked and are recorded
as ``unknown``. The policy's own training pairs count as a training source too: DPO on
``dataset=paradetox_pairs`` learns from ParaDetox, so a scorer trained on ParaDetox is shared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biasgrpo.config import Config, RewardConfig
from biasgrpo.errors import ConfigError
from biasgrpo.rewards.classifier import HUB_ID, META_FILE

SCORED_KINDS = ("bold", "rtp")
PAPER_RM_SOURCES = ("SaketR1/bias-grpo-data",)
DATASET_SOURCES = {"paradetox_pairs": ("paradetox",)}  # dataset.kind -> the reward-model source it reads
UNKNOWN = "unknown"
INDEPENDENT_SCORER_COMMAND = "python -m biasgrpo.benchmarks.scorer_training"


@dataclass
class Model:
    """A model folder (or hub id) and the sources it was trained on."""

    where: str
    sources: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.where} ({', '.join(self.sources) or 'no training data'})"


def folder_sources(where: str) -> list[str]:
    """``training.sources`` from a folder's ``biasgrpo_reward.json``; [unknown] without one."""
    meta = Path(where).expanduser() / META_FILE
    if not meta.is_file():
        return [UNKNOWN]
    return list(json.loads(meta.read_text()).get("training", {}).get("sources", [UNKNOWN]))


def same_place(a: str, b: str) -> bool:
    """Two hub ids or folders that name the same model (folders compared after resolving)."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return a.rstrip("/") == b.rstrip("/")


def reward_models(r: RewardConfig) -> list[Model]:
    """The learned models inside a reward config (a composite's parts included)."""
    if r.kind == "composite":
        return [m for part in r.parts.values() for m in reward_models(part)]
    if r.kind == "local_rm":
        return [Model(r.path, folder_sources(r.path))]
    if r.kind == "bias_rm":
        source = r.path or HUB_ID
        local = Path(source).expanduser().is_dir()
        sources = folder_sources(source) if local and (Path(source).expanduser() / META_FILE).is_file() else []
        return [Model(source, sources or list(PAPER_RM_SOURCES))]
    return []  # rule-based rewards: no model, no training data


def scorer_models(conf: Config) -> dict[str, Model]:
    """The toxicity scorer of each benchmark that has one, by benchmark name."""
    from biasgrpo.benchmarks.toxicity import local_scorer_path

    out = {}
    for name, b in conf.benchmark.items():
        if b.kind not in SCORED_KINDS:
            continue
        where = str(local_scorer_path(b)) if b.scorer == "local_rm" else b.scorer_path
        out[name] = Model(where, folder_sources(where))
    return out


def shared_parts(rewards: list[Model], policy_sources: list[str], scorer: Model) -> list[str]:
    """What the scorer shares with the rewards and the policy's training pairs, in words."""
    shared = [f"model folder {m.where}" for m in rewards if same_place(m.where, scorer.where)]
    trained_on = {s for m in rewards for s in m.sources} | set(policy_sources)
    common = sorted((trained_on & set(scorer.sources)) - {UNKNOWN})
    shared += [f"training source {s}" for s in common]
    return shared


def check_scorer_independence(conf: Config) -> dict[str, Any]:
    """Raise :class:`ConfigError` when a scorer shares a folder or a source with the reward (or the
    policy's training pairs) and ``eval.allow_shared_scorer`` is false; return what to record."""
    rewards = reward_models(conf.reward)
    policy_sources = list(DATASET_SOURCES.get(conf.dataset.kind, ()))
    figures: dict[str, Any] = {
        "independence/reward_models": "; ".join(m.describe() for m in rewards) or f"none ({conf.reward.kind})",
        "independence/policy_data_sources": ", ".join(policy_sources),
        "independence/allow_shared_scorer": conf.eval.allow_shared_scorer,
    }
    problems = []
    for name, scorer in scorer_models(conf).items():
        shared = shared_parts(rewards, policy_sources, scorer)
        figures[f"independence/{name}/scorer"] = scorer.describe()
        figures[f"independence/{name}/shared"] = "; ".join(shared)
        if shared:
            problems.append(f"benchmark.{name} scores with {scorer.describe()}, which shares {', '.join(shared)}")
    if problems and not conf.eval.allow_shared_scorer:
        reward = "; ".join(m.describe() for m in rewards)
        raise ConfigError(
            "the evaluation scorer is not independent of what the policy is trained on (reward: "
            f"{reward}{'; policy pairs: ' + ', '.join(policy_sources) if policy_sources else ''}):\n  - "
            + "\n  - ".join(problems)
            + "\nA policy trained against a model is graded by it, so its benchmark figures are not evidence. "
            f"Fix: score with a model trained on other data (`{INDEPENDENT_SCORER_COMMAND}` trains one on data "
            "disjoint from every reward-model source; pass benchmark.<name>.scorer_path=<its folder>), or "
            "train against another reward; or set eval.allow_shared_scorer=true to run anyway."
        )
    return figures
