"""Training rollouts from vLLM (``sampler=vllm``), colocated on the training GPU.

The engine is built once from the policy's base weights with LoRA enabled. Before each
rollout the policy's current adapters are written to a folder (PEFT's format, a few MB
to about a hundred) and the engine is asked for them under a new adapter id, so it loads
them afresh: every rollout is drawn from the policy as it is at that step. vLLM's public
API (``LLM``, ``SamplingParams``, ``LoRARequest``) is all this module uses; full-weight
training is refused by the config check, as vLLM's weight-loading entry points are internal
and change between releases.

Prompts are encoded as the project's sampler encodes them and handed to the engine as
token ids, and the completions come back as token ids, so the rollout (masks, EOS,
truncation) is assembled by the same code as the project's sampler's
(:func:`biasgrpo.rollout.rollout_from`). vLLM is imported only when this sampler is built.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from biasgrpo import distributed
from biasgrpo.config import ModelConfig, SamplerConfig
from biasgrpo.errors import BiasGRPOError
from biasgrpo.models import smollm2_folder
from biasgrpo.policy import Policy
from biasgrpo.rollout import encode_prompts, rollout_from
from biasgrpo.types import Rollout


class SamplerError(BiasGRPOError, RuntimeError):
    """The chosen sampler cannot run here (missing package, unsupported setting)."""


def lora_rank_bound(r: int) -> int:
    """The smallest rank bound vLLM accepts for adapters of rank ``r``: a power of two, at least 8."""
    return max(8, 1 << (r - 1).bit_length())


def base_weights_source(policy: Policy, cfg: ModelConfig, folder: Path) -> str:
    """Where vLLM reads the policy's base weights: the hub id or folder they were loaded from,
    or, for weights that exist only in memory (loader=config or tiny), a copy saved to ``folder``."""
    if cfg.loader == "hub":
        return cfg.path
    if cfg.loader == "smollm2_gguf":
        return str(smollm2_folder())
    base = policy.model.get_base_model()  # the transformers model, with PEFT's layers inside
    weights = {
        name.replace(".base_layer.", "."): tensor for name, tensor in base.state_dict().items() if "lora_" not in name
    }
    base.save_pretrained(folder, state_dict=weights)
    policy.tokenizer.save_pretrained(folder)
    return str(folder)


class VLLMSampler:
    """A :class:`biasgrpo.rollout.Sampler` that draws completions with vLLM."""

    def __init__(self, policy: Policy, cfg: SamplerConfig, model_cfg: ModelConfig, seed: int) -> None:
        if not policy.lora:
            raise SamplerError("sampler=vllm syncs LoRA adapters: set model.lora.enabled=true, or use sampler=hf")
        if distributed.world_size() > 1:
            raise SamplerError("sampler=vllm runs in one process for now; launch without torchrun or use sampler=hf")
        try:
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest
        except ImportError as err:
            raise SamplerError(
                f"sampler=vllm needs the vllm package, which could not be imported ({err}). Install it on a "
                "CUDA machine with `pip install vllm` (it pins its own torch), or use sampler=hf."
            ) from err
        self._sampling_params, self._lora_request = SamplingParams, LoRARequest
        self.policy, self.cfg = policy, cfg
        # A plain temporary folder: an adapter written and read back at once comes from the page
        # cache, and /dev/shm is often too small (64 MB in containers) for a copy of the weights.
        self._workdir = Path(tempfile.mkdtemp(prefix="biasgrpo-vllm-"))
        source = base_weights_source(policy, model_cfg, self._workdir / "base")
        dtype = model_cfg.autocast if model_cfg.autocast != "none" else model_cfg.dtype
        print(f"[biasgrpo] sampler=vllm: engine on {source} in {dtype}, adapters synced each step via {self._workdir}")
        self.llm = LLM(
            model=source,
            dtype=dtype,
            seed=seed,
            enable_lora=True,
            max_loras=1,
            max_lora_rank=lora_rank_bound(model_cfg.lora.r),
            max_model_len=cfg.max_prompt_tokens + cfg.max_new_tokens,
            gpu_memory_utilization=cfg.vllm.gpu_memory_utilization,
            enforce_eager=cfg.vllm.enforce_eager,
            trust_remote_code=model_cfg.trust_remote_code,
        )
        self.version = 0  # adapter versions sent to the engine; vLLM ids start at 1

    def _sync_adapters(self) -> Any:
        """Write the current adapters and name them by a new id, so the engine loads them afresh."""
        self.version += 1
        folder = self._workdir / f"adapter-{self.version}"
        self.policy.model.save_pretrained(folder)  # PEFT writes the adapters and their config only
        stale = self._workdir / f"adapter-{self.version - 1}"
        if stale.exists():
            shutil.rmtree(stale)
        return self._lora_request(f"policy-{self.version}", self.version, str(folder))

    @torch.no_grad()
    def __call__(self, prompts: list[str], group_size: int, greedy: bool = False) -> Rollout:
        tok, cfg = self.policy.tokenizer, self.cfg
        enc = encode_prompts(self.policy, prompts, cfg.max_prompt_tokens)
        ids = [row[keep].tolist() for row, keep in zip(enc.input_ids.cpu(), enc.attention_mask.cpu().bool())]
        params = self._sampling_params(
            n=group_size,
            temperature=0.0 if greedy else cfg.temperature,  # vLLM decodes greedily at temperature 0
            top_p=1.0 if greedy else cfg.top_p,
            max_tokens=cfg.max_new_tokens,
            stop_token_ids=[tok.eos_token_id],
        )
        outputs = self.llm.generate(
            [{"prompt_token_ids": row} for row in ids],
            params,
            lora_request=self._sync_adapters(),
            use_tqdm=False,
        )
        completions = [list(c.token_ids) for out in outputs for c in sorted(out.outputs, key=lambda c: c.index)]
        if len(completions) != len(prompts) * group_size:
            raise SamplerError(f"vLLM gave {len(completions)} completions for {len(prompts)} prompts x G={group_size}")
        tokens = torch.full((len(completions), max(map(len, completions))), tok.pad_token_id, dtype=torch.long)
        for row, completion in zip(tokens, completions):
            row[: len(completion)] = torch.tensor(completion)
        return rollout_from(self.policy, enc, tokens, prompts, group_size)

    def close(self) -> None:
        """Drop the engine and the adapter folders."""
        del self.llm
        shutil.rmtree(self._workdir, ignore_errors=True)
