"""``task=evaluate``: benchmark a base model or a trained checkpoint, without training.

    python run.py task=evaluate benchmark=[bold,rtp,bbq,truthfulqa]              # the base model
    python run.py task=evaluate benchmark=[bbq,truthfulqa] eval.limit=20           # a quick run
    python run.py task=evaluate eval.checkpoint=outputs/train/grpo/<date> benchmark=[bbq]

Writes summary.json (every figure, with the data source and scorer of each benchmark),
metrics.jsonl and one samples table per benchmark, logs them to W&B, and prints a table.

By default bold and rtp evaluate a subsample sized for time, bbq one sized by power and truthfulqa
its full set (conf/benchmark/*.yaml, docs/evaluation.md); a subsample says so when built, and each
records eval/<name>/limit, n_examples and n_full. ``benchmark.<name>.limit=0`` runs its full set.
Per-example results go to <run dir>/eval/<name>.jsonl for paired comparisons (task=report).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from biasgrpo import checkpoint
from biasgrpo.benchmarks import COUNT_FIGURES, build_benchmarks, info_figures, run_benchmarks
from biasgrpo.config import Config, ModelConfig
from biasgrpo.data import load_prompts
from biasgrpo.errors import ConfigError
from biasgrpo.logging import RunLogger, run_names
from biasgrpo.policy import Policy, pick_device
from biasgrpo.provenance import provenance
from biasgrpo.rewards import build_reward


def trained_model_config(state: dict[str, Any], model: ModelConfig) -> ModelConfig:
    """The model config a checkpoint was trained with (its LoRA shapes); it must be the model asked for."""
    merged = OmegaConf.merge(OmegaConf.structured(ModelConfig), checkpoint.config_of(state).model)
    trained: ModelConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    if trained.name != model.name:
        raise ConfigError(
            f"eval.checkpoint was trained on model={trained.name}, not model={model.name}; pass model={trained.name}"
        )
    return trained


def evaluate(cfg: DictConfig, conf: Config, run_dir: Path) -> dict[str, Any]:
    """Build the benchmarks (data, scorers), then the policy; evaluate, log and summarise."""
    t0 = time.perf_counter()
    if not conf.benchmark:
        raise ConfigError("task=evaluate has no benchmark; pass e.g. benchmark=[bold,rtp,bbq,truthfulqa]")
    run_dir.mkdir(parents=True, exist_ok=True)
    state = checkpoint.load_weights(Path(conf.eval.checkpoint)) if conf.eval.checkpoint else None
    model_cfg = conf.model if state is None else trained_model_config(state, conf.model)
    heldout = any(b.kind == "heldout_reward" for b in conf.benchmark.values())
    eval_rows = load_prompts(conf.dataset, conf.seed).eval if heldout else []
    benchmarks = build_benchmarks(conf, eval_rows, build_reward(conf.reward) if heldout else None)

    set_seed(conf.seed)
    policy = Policy(model_cfg, pick_device(conf.device), needs_reference=False)
    if state is not None:
        policy.load_trainable_state_dict(state["weights"])
    step = state["step"] if state is not None else 0

    names = run_names(conf, "evaluate", f"eval-{conf.model.name}-{Path(conf.eval.checkpoint).name or 'base'}")
    logger = RunLogger(run_dir, conf.logger, 0, conf, names, job_type="evaluate")
    summary: dict[str, Any] = {"eval/checkpoint": conf.eval.checkpoint or "base model", "eval/step": step}
    try:
        summary.update(run_benchmarks(benchmarks, policy, logger, step, run_dir))
        summary.update(info_figures(benchmarks))
        summary.update({"perf/wall_s": time.perf_counter() - t0, "run_dir": str(run_dir)})
        summary["provenance"] = provenance(conf)
        logger.summary(summary)
    finally:
        logger.finish()
    print(format_table(summary, [b.name for b in benchmarks]))
    return summary


def format_table(summary: dict[str, Any], names: list[str]) -> str:
    """Each benchmark's overall figures (per-category ones are in summary.json), its source and scorer."""
    lines = [f"\n[biasgrpo] evaluation of {summary['eval/checkpoint']}", f"  {'figure':42s} {'value':>10s}"]
    for name in names:
        prefix = f"eval/{name}/"
        for key, value in summary.items():
            figure = key.removeprefix(prefix)
            if key.startswith(prefix) and "/" not in figure:
                digits = 0 if figure in COUNT_FIGURES else 4
                lines.append(
                    f"  {key:42s} {value:10.{digits}f}" if isinstance(value, float) else f"  {key:42s} {value}"
                )
        lines.append(f"  {'perf/eval/' + name + '_s':42s} {summary[f'perf/eval/{name}_s']:10.1f}")
    return "\n".join(lines)
