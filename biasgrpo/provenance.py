"""Known and assumed: which settings the BiasGRPO paper states and which this project had to choose.

The paper (Phi-2; SCIENCE.md, section 6) states the model, G = 4 (ablation 2/4/8), the learning
rate 1e-6 with linear decay, 3 epochs, IPO as the DPO baseline, its data and its reward model. It
leaves the rest unstated: β, ε, the batch, completion lengths, LoRA or full fine-tuning, the
toxicity scorer, PPO's critic. ``provenance(conf)`` lists both for a run, each with the run's own
value (and for a stated one whether the run uses it); every training and evaluation summary holds
it under ``provenance``. ``markdown_table`` renders the table the README shows for sweeps/paper.yaml.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from biasgrpo.config import Config


@dataclass(frozen=True)
class Setting:
    name: str
    key: str
    """The config key that holds it in a run."""
    paper: Any = None
    """The value the paper states; None for an assumed setting."""
    algorithms: tuple[str, ...] = ()
    """The algorithms it applies to (empty: every one)."""
    note: str = ""

    def applies(self, algorithm: str) -> bool:
        return not self.algorithms or algorithm in self.algorithms


KNOWN = (
    Setting("base model", "model.path", "microsoft/phi-2", note="replicated on Llama-3.2-3B-Instruct"),
    Setting("training data", "dataset.hub_id", "SaketR1/bias-grpo-data"),
    Setting("reward model", "reward.path", "SaketR1/bias-reward-model", ("grpo", "ppo")),
    Setting("G, completions per prompt", "algorithm.num_generations", 4, ("grpo",), "ablation: 2, 4, 8"),
    Setting("DPO baseline loss", "algorithm.loss_type", "ipo", ("dpo",), "IPO (Azar et al. 2023)"),
    Setting("learning rate", "train.lr", 1e-6),
    Setting("learning-rate schedule", "train.lr_schedule", "linear"),
    Setting("epochs", "train.num_epochs", 3),
)
ASSUMED = (
    Setting("LoRA (false: full fine-tuning)", "model.lora.enabled", note="1e-6 is a full fine-tuning rate"),
    Setting("autocast (weights stay in model.dtype)", "model.autocast", note="fp32 master weights on a GPU"),
    Setting("prompts per step (batch)", "train.batch_size"),
    Setting("warm-up steps", "train.warmup_steps"),
    Setting("completion length (new tokens)", "sampler.max_new_tokens"),
    Setting("prompt length (tokens)", "sampler.max_prompt_tokens"),
    Setting("sampling temperature", "sampler.temperature"),
    Setting("GRPO β (k3 KL in the loss)", "algorithm.kl_coef", algorithms=("grpo",)),
    Setting("GRPO ε (clip)", "algorithm.clip_eps", algorithms=("grpo",)),
    Setting("IPO τ / DPO β", "algorithm.beta", algorithms=("dpo",)),
    Setting("PPO β (per-token KL in the reward)", "algorithm.kl_coef", algorithms=("ppo",)),
    Setting("PPO ε (clip)", "algorithm.clip_eps", algorithms=("ppo",)),
    Setting("PPO update epochs", "algorithm.update_epochs", algorithms=("ppo",)),
    Setting("PPO critic learning rate", "algorithm.critic_lr", algorithms=("ppo",), note="docs/comparison.md"),
    Setting("PPO critic warm-up steps", "algorithm.critic_warmup_steps", algorithms=("ppo",)),
    Setting("PPO completions per prompt", "algorithm.num_generations", algorithms=("ppo",)),
    Setting("reward model input", "reward.input_format", algorithms=("grpo", "ppo"), note="unverified offline"),
    Setting("toxicity scorer (BOLD, RTP)", "benchmark.rtp.scorer_path", note="only directions compare with the paper"),
)


def lookup(tree: Mapping[str, Any], key: str) -> Any:
    """``tree['a']['b']`` for ``key='a.b'``; None when a part is missing."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def provenance(conf: Config) -> dict[str, list[dict[str, Any]]]:
    """The run's stated and assumed settings with its own values; a stated one says whether it is the paper's."""
    tree, algorithm = dataclasses.asdict(conf), conf.algorithm.name
    known = [
        {
            "setting": s.name,
            "key": s.key,
            "paper": s.paper,
            "run": lookup(tree, s.key),
            "same": lookup(tree, s.key) == s.paper,
        }
        for s in KNOWN
        if s.applies(algorithm)
    ]
    assumed = [
        {"setting": s.name, "key": s.key, "run": lookup(tree, s.key), **({"note": s.note} if s.note else {})}
        for s in ASSUMED
        if s.applies(algorithm)
    ]
    return {"known": known, "assumed": assumed}


def markdown_table(presets: Mapping[str, Config]) -> str:
    """The known-vs-assumed table of a preset: one config per algorithm (e.g. sweeps/paper.yaml composed
    with algorithm=grpo, ppo and dpo); a setting's value is that of the algorithms it applies to."""
    rows = ["| setting | the paper | this preset | key | note |", "|---|---|---|---|---|"]
    for kind, settings in (("stated", KNOWN), ("assumed", ASSUMED)):
        for s in settings:
            values = {_text(lookup(dataclasses.asdict(c), s.key)) for a, c in presets.items() if s.applies(a)}
            paper = _text(s.paper) if kind == "stated" else "not stated"
            rows.append(f"| {s.name} | {paper} | {', '.join(sorted(values))} | `{s.key}` | {s.note} |")
    return "\n".join(rows) + "\n"


def _text(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)
