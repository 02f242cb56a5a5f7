"""task=export: adapters or merged weights (save_pretrained), the tokenizer and a model card; no push offline."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

from biasgrpo import checkpoint
from biasgrpo.config import ModelConfig, validate
from biasgrpo.errors import ConfigError, ExportError
from biasgrpo.models import tiny_model
from biasgrpo.policy import Policy
from run import dispatch


@pytest.fixture
def trained(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> Path:
    """A 2-step tiny GRPO run with its checkpoint and summary.json."""
    run = tmp_path / "train"
    dispatch(make_cfg("train.max_steps=2", "train.save_every=2"), run)
    return run


def export(make_cfg: Callable[..., DictConfig], run: Path, out: Path, *overrides: str) -> dict:
    return dispatch(make_cfg("task=export", f"export.checkpoint={run}", *overrides), out)


def test_adapters_card_and_tokenizer(make_cfg: Callable[..., DictConfig], trained: Path, tmp_path: Path) -> None:
    summary = export(make_cfg, trained, tmp_path / "export")
    out = tmp_path / "export" / "model"
    assert summary["export/kind"] == "adapters" and summary["export/dir"] == str(out) and summary["export/step"] == 2
    saved = load_file(out / "adapter_model.safetensors")
    weights = checkpoint.load(checkpoint.checkpoint_paths(trained)[-1])["weights"]
    # PEFT drops the adapter name from its keys: ...lora_A.default.weight -> ...lora_A.weight
    assert {k.replace(".default", "") for k in weights} == set(saved)
    assert all(torch.equal(weights[k], saved[k.replace(".default", "")]) for k in weights)
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 16
    assert AutoTokenizer.from_pretrained(out)("ab")["input_ids"]

    card = (out / "README.md").read_text()
    run_summary = json.loads((trained / "summary.json").read_text())
    after, before = run_summary["eval/heldout/reward_mean"], run_summary["eval_before/heldout/reward_mean"]
    change = run_summary["eval_delta/heldout/reward_mean"]
    assert f"| heldout | reward_mean | {before:.4f} | {after:.4f} | {change:.4f} |" in card
    assert "library_name: peft" in card and "kind: lexicon" in card and "## Data sources" in card
    assert "dataset `templates`" in card and "step 2 of 2" in card


def test_merged_weights_give_the_adapted_model(
    make_cfg: Callable[..., DictConfig], trained: Path, tmp_path: Path
) -> None:
    # Two tiny steps barely move the adapters (lora_B starts at 0): a checkpoint with B away from zero.
    state = checkpoint.load(checkpoint.checkpoint_paths(trained)[-1])
    torch.manual_seed(1)
    state["weights"] = {k: v + 0.1 * torch.randn_like(v) if "lora_B" in k else v for k, v in state["weights"].items()}
    trained = tmp_path / "moved"
    checkpoint.save(trained, 2, {k: v for k, v in state.items() if k not in ("step", "rng")}, keep=1)
    export(make_cfg, trained, tmp_path / "adapters")
    export(make_cfg, trained, tmp_path / "merged", "export.merge=true")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged" / "model")
    assert not any("lora" in k for k in merged.state_dict())
    assert "library_name: transformers" in (tmp_path / "merged" / "model" / "README.md").read_text()

    cfg = ModelConfig(name="tiny", loader="tiny")
    set_seed(0)
    policy = Policy(cfg, torch.device("cpu"), needs_reference=False)
    policy.load_trainable_state_dict(checkpoint.load(checkpoint.checkpoint_paths(trained)[-1])["weights"])
    set_seed(0)  # the same random tiny base as the export's
    base = tiny_model(cfg, len(policy.tokenizer)).eval()
    ids = torch.tensor([[5, 9, 12, 7, 3]])
    with torch.no_grad():
        base_logits = base(ids).logits
        reloaded = PeftModel.from_pretrained(base, tmp_path / "adapters" / "model").eval()
        expected = policy.model(ids).logits
        assert not torch.allclose(expected, base_logits, atol=1e-4)  # training moved the adapters
        torch.testing.assert_close(merged(ids).logits, expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(reloaded(ids).logits, expected, atol=1e-6, rtol=1e-6)


def test_report_table_goes_in_the_card(make_cfg: Callable[..., DictConfig], trained: Path, tmp_path: Path) -> None:
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "report.md").write_text("| algorithm | reward |\n|---|---|\n| grpo | 0.81 ± 0.02 (n=3) |\n")
    export(make_cfg, trained, tmp_path / "export", f"export.report={tmp_path / 'rep'}")
    assert "| grpo | 0.81 ± 0.02 (n=3) |" in (tmp_path / "export" / "model" / "README.md").read_text()
    with pytest.raises(ConfigError, match=r"export\.report=.*holds no report\.md"):
        export(make_cfg, trained, tmp_path / "x", f"export.report={tmp_path}")


def test_push_to_hub_is_refused_offline(
    make_cfg: Callable[..., DictConfig], trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ExportError, match=r"push_to_hub=true, but the hub is switched off.*nothing was written"):
        export(make_cfg, trained, tmp_path / "export", "export.push_to_hub=true", "export.hub_repo=me/model")
    assert not (tmp_path / "export" / "model").exists()


@pytest.mark.parametrize(
    ("overrides", "key"), [([], "export.checkpoint"), (["export.checkpoint=x", "export.push_to_hub=true"], "hub_repo")]
)
def test_export_settings_name_their_key(make_cfg: Callable[..., DictConfig], overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        validate(make_cfg("task=export", *overrides))


def test_export_refuses_a_run_without_checkpoint(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"export\.checkpoint=.*no readable checkpoint"):
        dispatch(make_cfg("task=export", f"export.checkpoint={tmp_path}"), tmp_path / "out")


def test_train_export_exports_the_trained_policy_on_rank_0(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    """train.export=true: task=export's folder from the final checkpoint, the card holding this run's
    evaluation table, the summary keeping its training figures and gaining export/*."""
    run = tmp_path / "train"
    summary = dispatch(make_cfg("train.max_steps=2", "train.export=true"), run)
    out = run / "model"
    assert summary["export/dir"] == str(out) and summary["export/kind"] == "adapters" and summary["export/step"] == 2
    saved = load_file(out / "adapter_model.safetensors")
    weights = checkpoint.load(checkpoint.checkpoint_paths(run)[-1])["weights"]
    assert {k.replace(".default", "") for k in weights} == set(saved)
    assert all(torch.equal(weights[k], saved[k.replace(".default", "")]) for k in weights)
    assert AutoTokenizer.from_pretrained(out)("ab")["input_ids"]
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["export/dir"] == str(out) and on_disk["train/steps"] == 2
    after, before = on_disk["eval/heldout/reward_mean"], on_disk["eval_before/heldout/reward_mean"]
    change = on_disk["eval_delta/heldout/reward_mean"]
    assert f"| heldout | reward_mean | {before:.4f} | {after:.4f} | {change:.4f} |" in (out / "README.md").read_text()


def test_train_export_refuses_an_offline_push_before_training(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = make_cfg("train.export=true", "export.push_to_hub=true", "export.hub_repo=me/model")
    with pytest.raises(ExportError, match="the hub is switched off"):
        dispatch(cfg, tmp_path / "train")
    assert not checkpoint.checkpoint_paths(tmp_path / "train")  # nothing trained in vain
