"""``task=export``: a trained checkpoint as a Hugging Face model folder, with a model card.

    python run.py task=export export.checkpoint=outputs/train/grpo/<date>                  # LoRA adapters
    python run.py task=export export.checkpoint=outputs/train/grpo/<date> export.merge=true  # merged weights
    python run.py task=export export.checkpoint=... export.push_to_hub=true export.hub_repo=me/model
    python run.py train.export=true                      # the same at the end of training (rank 0)

Writes, with ``save_pretrained``, the adapters (PEFT: adapter_config.json + adapter_model.safetensors)
or the merged model (transformers: config.json + model.safetensors), the tokenizer, and README.md:
a model card holding the base model, the algorithm, the reward, the evaluation table of the training
run (before, after, change; plus a task=report table with intervals over seeds when
``export.report`` names one), the data sources and the full config. The model and its settings come
from the checkpoint's own config, so only ``export.*`` needs passing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from biasgrpo import checkpoint
from biasgrpo.config import Config, ExportConfig, ModelConfig
from biasgrpo.errors import ConfigError, ExportError
from biasgrpo.logging import SUMMARY_FILE
from biasgrpo.policy import Policy, pick_device

CARD = "README.md"
REPORT_MD = "report.md"  # what task=report writes (biasgrpo/report.py)


def checkpoint_run_dir(path: Path) -> Path:
    """The training run directory of ``path`` (a run directory, or a checkpoints/step_*.pt file in one)."""
    return path.parent.parent if path.is_file() else path


def export(cfg: DictConfig, conf: Config, run_dir: Path) -> dict[str, Any]:
    """task=export: export ``export.checkpoint``, with its training run's summary.json in the card."""
    ex = conf.export
    report_md = check_export(ex)
    source = Path(ex.checkpoint)
    summary_path = checkpoint_run_dir(source) / SUMMARY_FILE
    run_summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary = export_checkpoint(source, ex, run_dir, run_summary, report_md)
    summary["run_dir"] = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def check_export(ex: ExportConfig) -> str:
    """What an export needs before any work (so nothing is written, or trained, in vain): the hub
    when pushing, the report when one is named. Returns the report's markdown ('' for none)."""
    if ex.push_to_hub and hub_offline():
        raise ExportError(
            "export.push_to_hub=true, but the hub is switched off here (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE "
            "is set); nothing was written. Export without export.push_to_hub and upload the folder later "
            f"(`hf upload {ex.hub_repo} <folder>`), or unset the variable and run again online"
        )
    if not ex.report:
        return ""
    if not (Path(ex.report) / REPORT_MD).exists():
        raise ConfigError(f"export.report={ex.report!r} holds no {REPORT_MD}; pass a task=report run directory")
    return (Path(ex.report) / REPORT_MD).read_text()


def export_checkpoint(
    source: Path, ex: ExportConfig, run_dir: Path, run_summary: dict[str, Any], report_md: str = ""
) -> dict[str, Any]:
    """Load checkpoint ``source`` (a run directory or step_*.pt) into its model; save adapters or merged
    weights, the tokenizer and the card (with ``run_summary``'s evaluation table) to ``export.out_dir``
    (default ``<run_dir>/model``), and push when asked. Returns the export/* figures."""
    state = checkpoint.load_weights(source, key="export.checkpoint")
    trained = checkpoint.config_of(state)
    merged = OmegaConf.merge(OmegaConf.structured(ModelConfig), trained.model)
    model_cfg: ModelConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    set_seed(int(trained.get("seed", 0)))  # loader=tiny builds its base from the seed, as training did
    policy = Policy(model_cfg, pick_device("cpu"), needs_reference=False)
    policy.load_trainable_state_dict(state["weights"])

    out = Path(ex.out_dir) if ex.out_dir else run_dir / "model"
    out.mkdir(parents=True, exist_ok=True)
    kind = "adapters" if policy.lora and not ex.merge else "merged" if policy.lora else "full"
    model = policy.model.merge_and_unload() if kind == "merged" else policy.model
    model.save_pretrained(out)  # safetensors
    policy.tokenizer.padding_side = "right"  # the usual default for whoever loads it
    policy.tokenizer.save_pretrained(out)
    (out / CARD).write_text(model_card(trained, state["step"], kind, run_summary, report_md, str(source)))
    print(f"[biasgrpo] exported {kind} of step {state['step']} to {out}")
    summary: dict[str, Any] = {"export/dir": str(out), "export/kind": kind, "export/step": state["step"]}
    if ex.push_to_hub:
        summary["export/hub_url"] = push(out, ex)
    return summary


def hub_offline() -> bool:
    """Whether the hub is switched off here (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    on = ("1", "true", "yes", "on")
    return any(os.environ.get(v, "").lower() in on for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def push(folder: Path, ex: ExportConfig) -> str:
    """Upload ``folder`` to ``ex.hub_repo``; refused offline, and any upload failure is an ExportError."""
    if hub_offline():  # export() checks first; kept for callers of push() alone
        raise ExportError(
            f"export.push_to_hub: the hub is switched off here (HF_HUB_OFFLINE); {folder} is not uploaded"
        )
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(ex.hub_repo, private=ex.private, exist_ok=True)
        info = api.upload_folder(repo_id=ex.hub_repo, folder_path=str(folder), commit_message="BiasGRPO export")
    except Exception as err:
        raise ExportError(
            f"export.push_to_hub: uploading {folder} to {ex.hub_repo!r} failed ({type(err).__name__}: {err}); "
            "check the network and `hf auth login` (a write token); the folder is written and can be uploaded later"
        ) from err
    return str(getattr(info, "commit_url", f"https://huggingface.co/{ex.hub_repo}"))


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def eval_table(summary: dict[str, Any]) -> str:
    """Markdown rows ``benchmark | metric | before | after | change`` from a training run's summary.json."""
    rows = []
    for key in sorted(k for k in summary if k.startswith("eval/") and k.count("/") == 2):
        value = summary[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue  # info fields (source, scorer) go to the data section
        _, bench, metric = key.split("/")
        before = summary.get(f"eval_before/{bench}/{metric}", "")
        delta = summary.get(f"eval_delta/{bench}/{metric}", "")
        rows.append(f"| {bench} | {metric} | {_fmt(before)} | {_fmt(value)} | {_fmt(delta)} |")
    if not rows:
        return "No evaluation figures: the training run has no summary.json with eval/ figures."
    return "\n".join(["| benchmark | metric | before | after | change |", "|---|---|---|---|---|", *rows])


def data_sources(trained: DictConfig, summary: dict[str, Any]) -> list[str]:
    """The training prompts (dataset config) and each benchmark's data source and scorer."""
    ds = trained.get("dataset", {})
    settings = ", ".join(
        f"{k}={v}" for k, v in ds.items() if k != "name" and isinstance(v, (str, int, float)) and v != ""
    )
    lines = [f"- training prompts: dataset `{ds.get('name', '?')}` ({settings})"]
    for key in sorted(k for k in summary if k.startswith("eval/") and k.count("/") == 2):
        if isinstance(summary[key], str) and key.split("/")[2] != "reward":
            lines.append(f"- {key.split('/')[1]} {key.split('/')[2]}: {summary[key]}")
    return lines


# The settings each reward kind reads (biasgrpo/config.py RewardConfig); the card shows only those.
REWARD_FIELDS = {
    "lexicon": ("sentiment_weight", "toxicity_weight", "generalisation_weight"),
    "token_fraction": ("token",),
    "bias_rm": ("path", "input_format", "max_length"),
    "local_rm": ("path", "input_format", "max_length"),
    "length_penalty": ("min_words", "max_words"),
    "python": ("target", "kwargs"),
    "composite": ("parts",),
}


def reward_settings(reward: dict[str, Any]) -> dict[str, Any]:
    """The reward config with only the fields its kind reads (every field for a kind not listed)."""
    fields = REWARD_FIELDS.get(reward.get("kind", ""), tuple(reward))
    out = {k: v for k, v in reward.items() if k in ("name", "kind", "weight", *fields) and v != ""}
    if reward.get("parts"):
        out["parts"] = {name: reward_settings(part) for name, part in reward["parts"].items()}
    return out


def model_card(trained: DictConfig, step: int, kind: str, summary: dict[str, Any], report_md: str, source: str) -> str:
    """README.md of the exported folder: front matter, model, training, reward, evaluation, data, config."""
    model, algo = trained.model, trained.algorithm
    base = model.path if model.loader in ("hub", "config") else f"{model.name} (loader={model.loader})"
    lora = model.get("lora", {})
    library = "peft" if kind == "adapters" else "transformers"
    front = ["---", f"library_name: {library}", "tags: [biasgrpo, bias, rlhf, " + f"{algo.name}]"]
    if model.loader == "hub":
        front.append(f"base_model: {model.path}")
    front.append("---")
    weights = {
        "adapters": f"LoRA adapters (r={lora.get('r')}, alpha={lora.get('alpha')}, "
        f"targets={list(lora.get('target_modules', []))}); load with peft.AutoPeftModelForCausalLM.from_pretrained",
        "merged": "the LoRA adapters merged into the base weights; load with AutoModelForCausalLM.from_pretrained",
        "full": "every weight (full fine-tuning); load with AutoModelForCausalLM.from_pretrained",
    }[kind]
    parts = [
        *front,
        f"# {model.name}, fine-tuned with BiasGRPO ({algo.name})",
        "",
        "Fine-tuned to give less socially biased answers with the BiasGRPO framework.",
        "",
        "## Model",
        f"- base model: {base}",
        f"- weights: {weights}",
        f"- checkpoint: step {step} of {trained.train.max_steps}, from `{source}`",
        "",
        "## Training",
        f"- algorithm: {algo.name}; seed {trained.seed}; learning rate {trained.train.lr}; "
        f"batch {trained.train.batch_size} prompts",
        "",
        "## Reward",
        "```yaml",
        OmegaConf.to_yaml(reward_settings(OmegaConf.to_container(trained.reward))).strip(),  # type: ignore[arg-type]
        "```",
        "",
        "## Evaluation",
        "Figures of the training run (summary.json): before training, after, and the change.",
        "",
        eval_table(summary),
    ]
    if report_md:
        parts += ["", "### Over seeds (task=report: means with confidence intervals)", "", report_md.strip()]
    parts += ["", "## Data sources", *data_sources(trained, summary), "", "## Config"]
    parts += ["<details><summary>The full training config</summary>", "", "```yaml", OmegaConf.to_yaml(trained).strip()]
    parts += ["```", "</details>", ""]
    return "\n".join(parts)
