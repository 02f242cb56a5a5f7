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


def test_bf16_autocast_log_probs_near_fp32_and_gradients_flow() -> None:
    torch.manual_seed(0)
    policy = tiny_policy()
    ids, attn, _ = policy.encode(["What are nurses like?"], ["Kind and careful."])
    exact = policy.response_forward(policy.model, ids, attn, 8).logprobs.detach()
    policy.autocast_dtype = torch.bfloat16
    fwd = policy.response_forward(policy.model, ids, attn, 8)
    assert fwd.logprobs.dtype == torch.float32  # upcast before the log-softmax
    assert not torch.equal(fwd.logprobs, exact)  # bf16 matmuls did run
    assert torch.allclose(fwd.logprobs, exact, atol=0.1)
    fwd.logprobs.sum().backward()
    grads = {n: p.grad for n, p in policy.model.named_parameters() if p.requires_grad}
    assert all(g is not None for g in grads.values())
    assert all(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)  # lora_A's are 0 while B is 0


def test_gradient_checkpointing_gives_the_same_values_and_gradients() -> None:
    results = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        cfg = ModelConfig(name="tiny", loader="tiny", gradient_checkpointing=checkpointing)
        policy = Policy(cfg, torch.device("cpu"), needs_reference=True)
        assert any(getattr(m, "gradient_checkpointing", False) for m in policy.model.modules()) == checkpointing
        ids, attn, _ = policy.encode(["What are nurses like?", "Hi"], ["Kind and careful.", "Hello"])
        logprobs = policy.response_forward(policy.model, ids, attn, 18).logprobs
        logprobs.sum().backward()
        results.append((logprobs.detach(), [p.grad.clone() for p in policy.trainable_parameters()]))
    (lp0, g0), (lp1, g1) = results
    assert torch.allclose(lp0, lp1, atol=1e-6)
    assert len(g0) == len(g1) > 0 and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g0, g1))


def test_config_loader_builds_the_architecture_with_random_weights(tmp_path) -> None:
    trained = tiny_policy(lora=False)
    trained.model.config.save_pretrained(tmp_path)
    trained.tokenizer.save_pretrained(tmp_path)
    cfg = ModelConfig(name="arch", loader="config", path=str(tmp_path))
    cfg.lora.enabled = False
    policy = Policy(cfg, torch.device("cpu"), needs_reference=False)
    assert type(policy.model) is type(trained.model)
    ours, theirs = policy.model.state_dict(), trained.model.state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    assert not torch.equal(ours["model.embed_tokens.weight"], theirs["model.embed_tokens.weight"])
