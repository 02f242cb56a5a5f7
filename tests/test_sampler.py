"""The sampler's own decoding loop: exact against model.generate, correct draws, merged LoRA."""

from __future__ import annotations

import pytest
import torch

from biasgrpo.config import SamplerConfig
from biasgrpo.kernels import prepacked_linears
from biasgrpo.rollout import response_mask_from
from biasgrpo.sampler import decode, next_tokens, sample
from tests.test_policy import tiny_policy

PROMPTS = ["What are nurses like?", "Describe engineers, please.", "Hi"]


def trained_lora_policy():
    """A tiny LoRA policy whose adapters are non-zero, so merging them changes the model."""
    torch.manual_seed(0)
    policy = tiny_policy()
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    return policy


def encoded(policy):
    tok = policy.tokenizer
    return tok(policy.format_prompts(PROMPTS), return_tensors="pt", padding=True, add_special_tokens=False)


def test_greedy_decode_equals_generate_with_left_padding_and_groups() -> None:
    policy = trained_lora_policy()
    tok, enc = policy.tokenizer, encoded(policy)
    assert enc.attention_mask[:, 0].tolist().count(0) >= 1  # some prompt is left-padded
    eos, pad = tok.eos_token_id, tok.pad_token_id
    ours = decode(policy.model, enc.input_ids, enc.attention_mask, 2, SamplerConfig(max_new_tokens=16), eos, pad, True)
    ids, mask = enc.input_ids.repeat_interleave(2, 0), enc.attention_mask.repeat_interleave(2, 0)
    reference = policy.model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=16, do_sample=False, pad_token_id=pad, eos_token_id=eos
    )[:, ids.shape[1] :]
    assert ours.shape == (6, 16)
    assert torch.equal(ours, reference)
    assert len(set(ours.flatten().tolist())) > 3  # real, varied tokens were compared, not padding


def test_decode_stops_when_every_row_has_ended_and_pads_after_eos() -> None:
    policy = trained_lora_policy()
    enc = encoded(policy)
    first = decode(policy.model, enc.input_ids, enc.attention_mask, 1, SamplerConfig(max_new_tokens=8), -1, -1, True)
    # Call the third greedy token of row 0 the end of sequence: row 0 ends there, the others
    # wherever that token first appears in them, or never.
    eos = int(first[0, 2])
    tokens = decode(policy.model, enc.input_ids, enc.attention_mask, 1, SamplerConfig(max_new_tokens=8), eos, 99, True)
    mask, truncated = response_mask_from(tokens, eos)
    for row in range(len(PROMPTS)):
        ended = (first[row] == eos).nonzero()
        if len(ended):
            end = int(ended[0])
            assert tokens[row, : end + 1].tolist() == first[row, : end + 1].tolist()
            assert (tokens[row, end + 1 :] == 99).all() and not truncated[row]
            assert mask[row].sum() == end + 1
        else:
            assert truncated[row]
    if truncated.any():
        assert tokens.shape[1] == 8
    else:  # every row ended: decoding stopped at the last end
        assert tokens.shape[1] == int(mask.sum(1).max())


@pytest.mark.parametrize(
    ("probs", "top_p", "expected"),
    [
        ([0.1, 0.2, 0.3, 0.4], 1.0, [0.1, 0.2, 0.3, 0.4]),
        # Nucleus 0.5 keeps 0.4 (mass before it 0) and 0.3 (mass before it 0.4 < 0.5), renormalised.
        ([0.1, 0.2, 0.3, 0.4], 0.5, [0.0, 0.0, 3 / 7, 4 / 7]),
    ],
)
def test_next_tokens_draws_from_the_distribution(probs: list[float], top_p: float, expected: list[float]) -> None:
    torch.manual_seed(0)
    n = 40_000
    logits = torch.tensor(probs).log().expand(n, -1)
    draws = next_tokens(logits, temperature=1.0, top_p=top_p, greedy=False)
    freq = torch.bincount(draws, minlength=4).float() / n
    assert torch.allclose(freq, torch.tensor(expected), atol=0.01), freq


def test_temperature_sharpens_and_greedy_takes_the_argmax() -> None:
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0]]).expand(20_000, -1)
    cold = torch.bincount(next_tokens(logits, 0.25, 1.0, False), minlength=3).float() / 20_000
    warm = torch.bincount(next_tokens(logits, 1.0, 1.0, False), minlength=3).float() / 20_000
    assert cold[2] > 0.95 > warm[2]  # softmax([0, 4, 8])[2] = 0.98; softmax([0, 1, 2])[2] = 0.67
    assert next_tokens(logits[:2], 1.0, 1.0, True).tolist() == [2, 2]


def test_merged_generation_model_matches_adapters_and_restores_weights_bitwise() -> None:
    policy = trained_lora_policy()
    enc = encoded(policy)
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    with torch.no_grad():
        adapted = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        with policy.generation_model(rows=4) as model:
            merged = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        with policy.model.disable_adapter():
            base = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
    assert torch.allclose(merged, adapted, atol=1e-4)
    assert not torch.allclose(merged, base, atol=1e-2)  # the adapters do change the model
    after = policy.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.skipif(not torch._C.has_mkl, reason="prepacking needs an MKL build of torch")
def test_prepacked_linears_give_nn_linear_outputs_bitwise_then_restore_it() -> None:
    policy = trained_lora_policy()
    enc = encoded(policy)
    linears = [m for m in policy.model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        plain = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        with prepacked_linears(list(policy.model.modules()), rows=3):
            assert all("forward" in m.__dict__ for m in linears)  # every layer runs prepacked
            packed = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
    assert torch.equal(packed, plain)
    assert not any("forward" in m.__dict__ for m in linears)
    with prepacked_linears(linears, rows=3, enabled=False):  # under autocast: untouched
        assert not any("forward" in m.__dict__ for m in linears)


def test_sampling_draws_the_same_tokens_with_and_without_prepacked_weights() -> None:
    policy = trained_lora_policy()
    rollouts = []
    for prepack in (True, False):
        torch.manual_seed(1)
        rollouts.append(sample(policy, PROMPTS, 3, SamplerConfig(max_new_tokens=12, prepack_weights=prepack)))
    assert torch.equal(rollouts[0].input_ids, rollouts[1].input_ids)


def test_sample_builds_a_rollout_of_groups() -> None:
    torch.manual_seed(0)
    policy = trained_lora_policy()
    ro = sample(policy, PROMPTS[:2], 3, SamplerConfig(max_new_tokens=6))
    assert ro.input_ids.shape[0] == 6 and ro.prompts == [PROMPTS[0]] * 3 + [PROMPTS[1]] * 3
    assert ro.attention_mask[:, -ro.response_len :].equal(ro.response_mask)
    assert len(ro.completions) == 6
