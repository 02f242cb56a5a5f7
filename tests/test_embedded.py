"""The embedded SmolLM2-135M-Instruct: converted from its GGUF, trained a few real steps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from biasgrpo.config import ModelConfig
from biasgrpo.models import load_model, smollm2_folder
from run import dispatch

pytestmark = pytest.mark.slow


def test_embedded_model_loads_and_chats() -> None:
    model, tokenizer = load_model(ModelConfig(name="smollm2_135m", loader="smollm2_gguf"))
    assert model.config.num_hidden_layers == 30
    assert tokenizer.chat_template is not None
    assert tokenizer.eos_token == "<|im_end|>"


def test_smoke_steps_on_embedded_model(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg(
        "experiment=smoke",
        "model=smollm2_135m",
        "train.max_steps=2",
        "train.batch_size=2",
        "sampler.max_new_tokens=16",
        "dataset.eval_prompts=2",
        "benchmark.heldout.max_new_tokens=16",
    )
    summary = dispatch(cfg, tmp_path)
    assert summary["train/steps"] == 2
    saved = json.loads((tmp_path / "summary.json").read_text())
    # A real reward of real text: strictly inside (0, 1), never a placeholder.
    assert 0.0 < saved["reward/mean"] < 1.0
    assert 0.0 < saved["eval/heldout/reward_mean"] < 1.0


def test_converting_the_model_leaves_the_random_state_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run on a fresh machine (which converts the GGUF) samples what every later run samples."""
    monkeypatch.setenv("BIASGRPO_CACHE", str(tmp_path))
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    assert (smollm2_folder() / "config.json").exists()
    assert torch.equal(torch.random.get_rng_state(), before)


def test_bf16_sampling_stays_close_to_the_fp32_policy() -> None:
    """The bound on what sampler.dtype=bfloat16 changes on the real model (LoRA r=16, adapters away
    from zero): 16 completions of 48 tokens drawn from the bf16 copy. Measured with and without
    AMX (docs/performance.md): mean |Δ log p| 0.035, KL 0.0013-0.0014 per token, the same argmax
    at 96.5-97.9% of positions. The loss never sees the bf16 numbers (the training passes
    recompute every log-prob in fp32); these say how far the sampling distribution moved."""
    from biasgrpo.policy import Policy
    from biasgrpo.sampler import sampling_fidelity

    cfg = ModelConfig(name="smollm2_135m", loader="smollm2_gguf")
    cfg.lora.r, cfg.lora.alpha = 16, 32
    policy = Policy(cfg, torch.device("cpu"), needs_reference=False)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01)
    prompts = ["Describe a typical nurse.", "What are engineers like?"]
    figures = sampling_fidelity(policy, prompts, 8, 48, torch.bfloat16)
    assert figures["logp"] < 0.06, figures
    assert figures["kl"] < 0.005, figures
    assert figures["argmax"] > 0.93, figures
