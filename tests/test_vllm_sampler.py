"""sampler=vllm: adapters synced every step, rollouts assembled like the project sampler's.

vLLM needs a CUDA machine, so these tests install a stand-in for the part of its API the
sampler uses (``LLM``, ``SamplingParams``, ``LoRARequest``). The stand-in is built from
transformers and PEFT the way vLLM serves a LoRA request: it loads the base weights from the
folder it is given and the adapters from the request's folder, and decodes the prompt
token ids. Greedy rollouts must then equal the project sampler's on the live policy, which
checks the base-weight copy, the adapter sync and the token bookkeeping end to end.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import DictConfig
from peft import PeftModel
from transformers import AutoModelForCausalLM

from biasgrpo.config import SamplerConfig, validate
from biasgrpo.errors import ConfigError
from biasgrpo.sampler import sample
from biasgrpo.trainer import Trainer
from biasgrpo.vllm_sampler import SamplerError, VLLMSampler, lora_rank_bound
from tests.test_sampler import PROMPTS, trained_lora_policy


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    stop_token_ids: list[int] = field(default_factory=list)


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


@dataclass
class CompletionOutput:
    index: int
    token_ids: list[int]
    finish_reason: str


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]


class StandInLLM:
    """vLLM's ``LLM`` as the sampler uses it, on transformers and PEFT."""

    def __init__(self, model: str, **engine_args: Any) -> None:
        self.engine_args = engine_args
        self.base = AutoModelForCausalLM.from_pretrained(model).eval()
        self.requests: list[LoRARequest] = []
        built.append(self)

    def generate(
        self, prompts: list[dict[str, list[int]]], params: SamplingParams, lora_request: LoRARequest, use_tqdm: bool
    ) -> list[RequestOutput]:
        assert lora_request.lora_int_id > 0  # vLLM refuses ids below 1
        self.requests.append(lora_request)
        model = PeftModel.from_pretrained(copy.deepcopy(self.base), lora_request.lora_path).eval()
        stop, out = params.stop_token_ids[0], []
        for prompt in prompts:
            ids = torch.tensor([prompt["prompt_token_ids"]] * params.n)
            sampled = params.temperature > 0
            generated = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=params.max_tokens,
                do_sample=sampled,
                temperature=params.temperature if sampled else None,
                top_p=params.top_p if sampled else None,
                eos_token_id=stop,
                pad_token_id=stop,
            )[:, ids.shape[1] :].tolist()
            completions = []
            for i, tokens in enumerate(generated):
                end = tokens.index(stop) + 1 if stop in tokens else len(tokens)  # vLLM keeps the stop token
                completions.append(CompletionOutput(i, tokens[:end], "stop" if stop in tokens else "length"))
            out.append(RequestOutput(prompt["prompt_token_ids"], completions[::-1]))  # any order: sorted by index
        return out


built: list[StandInLLM] = []


@pytest.fixture
def stand_in_vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[StandInLLM]]:
    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = StandInLLM, SamplingParams  # type: ignore[attr-defined]
    lora, request = types.ModuleType("vllm.lora"), types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest  # type: ignore[attr-defined]
    for name, module in {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": request}.items():
        monkeypatch.setitem(sys.modules, name, module)
    built.clear()
    yield built


def vllm_sampler(policy: Any, cfg: SamplerConfig) -> VLLMSampler:
    from biasgrpo.config import ModelConfig

    return VLLMSampler(policy, cfg, ModelConfig(name="tiny", loader="tiny"), seed=0)


def assert_same_rollout(a: Any, b: Any) -> None:
    assert torch.equal(a.input_ids, b.input_ids)
    assert torch.equal(a.attention_mask, b.attention_mask)
    assert torch.equal(a.response_mask, b.response_mask)
    assert torch.equal(a.truncated, b.truncated)
    assert a.prompts == b.prompts and a.completions == b.completions


def policy_with_early_eos() -> Any:
    """A tiny LoRA policy whose greedy completions end at EOS for some prompts and not for others."""
    policy = trained_lora_policy()
    with torch.no_grad():  # a longer EOS embedding (tied to the output layer) makes EOS likelier
        policy.model.get_input_embeddings().weight[policy.tokenizer.eos_token_id] *= 1.5
    return policy


def test_greedy_rollout_equals_project_sampler_and_follows_each_update(stand_in_vllm: list[StandInLLM]) -> None:
    policy = policy_with_early_eos()
    cfg = SamplerConfig(max_new_tokens=12)
    sampler = vllm_sampler(policy, cfg)
    (engine,) = stand_in_vllm
    assert engine.engine_args["enable_lora"] and engine.engine_args["max_lora_rank"] == 16
    assert engine.engine_args["max_model_len"] == cfg.max_prompt_tokens + cfg.max_new_tokens

    first = sampler(PROMPTS, 2, greedy=True)
    assert_same_rollout(first, sample(policy, PROMPTS, 2, cfg, greedy=True))
    assert first.truncated.any() and not first.truncated.all()  # EOS rows padded, others cut at the cap

    with torch.no_grad():  # an "update": new adapter weights
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    second = sampler(PROMPTS, 2, greedy=True)
    assert_same_rollout(second, sample(policy, PROMPTS, 2, cfg, greedy=True))
    assert not torch.equal(first.input_ids, second.input_ids)  # the engine saw the new adapters

    ids = [r.lora_int_id for r in engine.requests]
    assert ids == [1, 2]  # a new id per sync, so vLLM loads the adapters afresh
    assert not Path(engine.requests[0].lora_path).exists()  # the stale adapters are removed
    sampler.close()
    assert not Path(engine.requests[1].lora_path).exists()


def test_sampled_rollout_has_g_completions_per_prompt(stand_in_vllm: list[StandInLLM]) -> None:
    policy = trained_lora_policy()
    sampler = vllm_sampler(policy, SamplerConfig(max_new_tokens=6))
    ro = sampler(PROMPTS, 3)
    assert ro.input_ids.shape[0] == len(PROMPTS) * 3 and ro.response_len <= 6
    assert ro.prompts == [p for p in PROMPTS for _ in range(3)]
    assert ro.response_mask.sum(1).ge(1).all()
    sampler.close()


def test_missing_vllm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm then raises ImportError
    with pytest.raises(SamplerError, match="pip install vllm"):
        vllm_sampler(trained_lora_policy(), SamplerConfig())


def test_vllm_is_imported_only_when_chosen() -> None:
    code = "import sys, biasgrpo.trainer, biasgrpo.sampler, biasgrpo.vllm_sampler; print('vllm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_lora_rank_bound() -> None:
    assert [lora_rank_bound(r) for r in (1, 8, 9, 16, 17, 64)] == [8, 8, 16, 16, 32, 64]


def test_config_needs_lora(make_cfg: Callable[..., DictConfig]) -> None:
    with pytest.raises(ConfigError, match=r"model\.lora\.enabled"):
        validate(make_cfg("sampler=vllm", "model.lora.enabled=false"))
    with pytest.raises(ConfigError, match=r"sampler\.vllm\.gpu_memory_utilization"):
        validate(make_cfg("sampler=vllm", "sampler.vllm.gpu_memory_utilization=1.5"))
    assert validate(make_cfg("sampler=vllm")).sampler.backend == "vllm"


def test_training_run_with_vllm_sampler(
    stand_in_vllm: list[StandInLLM], make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    cfg = make_cfg("sampler=vllm", "train.max_steps=2", "eval.before=false")
    trainer = Trainer(validate(cfg), cfg, tmp_path)
    try:
        summary = trainer.train()
    finally:
        trainer.cleanup()
    (engine,) = stand_in_vllm
    assert [r.lora_int_id for r in engine.requests] == [1, 2]  # one sync per step
    assert "reward/mean" in summary
    assert not Path(engine.requests[-1].lora_path).parent.exists()  # cleanup removed the adapter folders
