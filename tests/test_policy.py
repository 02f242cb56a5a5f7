"""Policy: encoding pairs like rollouts, prompt masking, reference without a copy."""

from __future__ import annotations

import torch
from transformers.modeling_outputs import CausalLMOutputWithPast

from biasgrpo.algorithms.functional import sequence_logprobs
from biasgrpo.config import ModelConfig
from biasgrpo.policy import Policy


def tiny_policy(lora: bool = True) -> Policy:
    cfg = ModelConfig(name="tiny", loader="tiny")
    cfg.lora.enabled = lora
    return Policy(cfg, torch.device("cpu"), needs_reference=True)


def test_encode_matches_rollout_layout() -> None:
    policy = tiny_policy()
    ids, attn, mask = policy.encode(["Hi", "Hello there"], ["ok", "yes sir"])
    # Prompts left-padded, responses right-padded and ending in EOS.
    assert mask.tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]]
    eos = policy.tokenizer.eos_token_id
    assert ids[0, -8:].tolist()[2] == eos and ids[1, -1].item() == eos
    assert attn[0, 0].item() == 0  # the shorter prompt is padded on the left
    text = policy.tokenizer.decode(ids[1], skip_special_tokens=False)
    assert text.startswith("<user>Hello there<assistant>yes sir")


class PromptNoise(torch.nn.Module):
    """A model that ignores logits_to_keep and returns noise at every prompt position."""

    def __init__(self, model: torch.nn.Module, response_len: int) -> None:
        super().__init__()
        self.model, self.response_len = model, response_len

    def forward(self, **kwargs: object) -> CausalLMOutputWithPast:
        kwargs["logits_to_keep"] = 0  # all positions, so the prompt ones are there to corrupt
        logits = self.model(**kwargs).logits.clone()
        logits[:, : -self.response_len - 1] = torch.randn_like(logits[:, : -self.response_len - 1]) * 100
        return CausalLMOutputWithPast(logits=logits)


def test_prompt_logits_do_not_change_the_sequence_logprobs() -> None:
    policy = tiny_policy()
    ids, attn, mask = policy.encode(["What are nurses like?"], ["They care."])
    T = mask.shape[1]
    with torch.no_grad():
        clean = sequence_logprobs(policy.response_forward(policy.model, ids, attn, T).logprobs, mask, False)
        noisy = sequence_logprobs(
            policy.response_forward(PromptNoise(policy.model, T), ids, attn, T).logprobs, mask, False
        )
    assert torch.allclose(clean, noisy)


def test_reference_is_the_adapter_free_model() -> None:
    policy = tiny_policy()
    ids, attn, mask = policy.encode(["Hi"], ["there"])
    T = mask.shape[1]
    with torch.no_grad():
        for p in policy.trainable_parameters():
            p.add_(0.5)  # move the adapters away from the identity
        with policy.reference() as ref:
            ref_lp = policy.response_forward(ref, ids, attn, T).logprobs
        cur_lp = policy.response_forward(policy.model, ids, attn, T).logprobs
        with policy.model.disable_adapter():
            base_lp = policy.response_forward(policy.model, ids, attn, T).logprobs
    assert torch.allclose(ref_lp, base_lp) and not torch.allclose(ref_lp, cur_lp)
    # No second copy of the weights under LoRA.
    assert policy._frozen_reference is None


def test_shared_prefix_matches_full_forward_in_value_and_gradient() -> None:
    from biasgrpo.config import SamplerConfig
    from biasgrpo.sampler import sample

    torch.manual_seed(0)
    policy = tiny_policy()
    ro = sample(policy, ["What are nurses like?", "Describe engineers, please."], 4, SamplerConfig(max_new_tokens=12))
    results = []
    for g in (1, 4):
        fwd = policy.response_forward(
            policy.model, ro.input_ids, ro.attention_mask, ro.response_len, with_hidden=True, group_size=g
        )
        (fwd.logprobs * ro.response_mask).sum().backward()
        grads = [p.grad.clone() for p in policy.trainable_parameters()]
        policy.model.zero_grad()
        # The states that predict response tokens, as a value head reads them.
        results.append((fwd.logprobs.detach(), grads, fwd.hidden[:, -ro.response_len - 1 : -1].detach()))
    (lp1, g1, h1), (lp4, g4, h4) = results
    mask = ro.response_mask.bool()
    assert torch.allclose(lp1[mask], lp4[mask], atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g1, g4))
    assert torch.allclose(h1[mask], h4[mask], atol=1e-5)  # padding after EOS may differ; it is masked
