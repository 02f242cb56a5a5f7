"""The sampler's own decoding loop: exact against model.generate, correct draws, merged LoRA."""

from __future__ import annotations

import pytest
import torch

from biasgrpo import kernels
from biasgrpo.config import SamplerConfig
from biasgrpo.kernels import prepacked_linears
from biasgrpo.policy import Policy
from biasgrpo.rollout import response_mask_from
from biasgrpo.sampler import HFSampler, decode, next_tokens, sample, sampling_dtype, sampling_fidelity
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


PACKED_DTYPES = [
    pytest.param(dtype, marks=pytest.mark.skipif(not kernels.packs(dtype), reason=f"no prepacked {dtype} kernel here"))
    for dtype in (torch.float32, torch.bfloat16)
]


@pytest.mark.parametrize("dtype", PACKED_DTYPES)
def test_prepacked_linears_give_nn_linear_outputs_bitwise_then_restore_it(dtype: torch.dtype) -> None:
    policy = trained_lora_policy()
    enc = encoded(policy)
    with torch.no_grad(), policy._sampling_weights(dtype) as modules:
        linears = [m for m in modules if isinstance(m, torch.nn.Linear)]
        assert {m.weight.dtype for m in linears} == {dtype}
        plain = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        with prepacked_linears(modules, rows=3, probe=False):
            assert all("forward" in m.__dict__ for m in linears)  # every layer runs prepacked
            packed = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        assert torch.equal(packed, plain)
        assert not any("forward" in m.__dict__ for m in linears)
        with prepacked_linears(linears, rows=3, enabled=False):  # under autocast: untouched
            assert not any("forward" in m.__dict__ for m in linears)


def test_the_packing_probe_picks_the_faster_kernel_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prepacked kernel made slow loses the probe: layers keep nn.Linear, and the verdict is
    remembered, so the next call neither times nor packs again."""
    policy = trained_lora_policy()
    modules = list(policy.model.modules())
    if not kernels.packs(torch.float32):
        pytest.skip("no prepacked fp32 kernel here")
    real_linear, real_pack, calls, packs = kernels._packed_linear, kernels._pack, [], []

    def slow(*args: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        sum(torch.ones(20_000).cumsum(0)[-1:] for _ in range(5))  # about 0.1 ms more per product
        return real_linear(*args)

    def counted_pack(*args: torch.Tensor | int) -> torch.Tensor:
        packs.append(1)
        return real_pack(*args)

    monkeypatch.setattr(kernels, "_packed_linear", slow)
    monkeypatch.setattr(kernels, "_pack", counted_pack)
    monkeypatch.setattr(kernels, "_prepack_wins", {})
    linears = [m for m in modules if isinstance(m, torch.nn.Linear)]
    for _ in range(2):
        with prepacked_linears(modules, rows=3):
            assert not any("forward" in m.__dict__ for m in linears)
    assert len(calls) == len(linears) * (kernels.PROBE_ROUNDS + 1)  # the probe ran once
    assert len(packs) == len(linears)  # and the second call packed nothing
    assert list(kernels._prepack_wins.values()) == [False]


def test_sampling_draws_the_same_tokens_with_and_without_prepacked_weights() -> None:
    policy = trained_lora_policy()
    rollouts = []
    for prepack in (True, False):
        torch.manual_seed(1)
        rollouts.append(sample(policy, PROMPTS, 3, SamplerConfig(max_new_tokens=12, prepack_weights=prepack)))
    assert torch.equal(rollouts[0].input_ids, rollouts[1].input_ids)


@pytest.mark.parametrize(
    ("name", "device", "native", "expected"),
    [
        ("auto", "cpu", True, torch.bfloat16),  # avx512_bf16 or AMX
        ("auto", "cpu", False, torch.float32),  # bf16 products emulated: slower than fp32
        ("auto", "cuda", False, torch.bfloat16),
        ("float32", "cpu", True, torch.float32),
        ("bfloat16", "cpu", False, torch.bfloat16),
    ],
)
def test_sampling_dtype(name: str, device: str, native: bool, expected: torch.dtype) -> None:
    assert sampling_dtype(name, torch.float32, torch.device(device), native) == expected
    # Weights already in a half precision are sampled as they are under auto.
    assert sampling_dtype("auto", torch.bfloat16, torch.device(device), native) == torch.bfloat16


def test_training_sampler_uses_sampler_dtype_and_evaluation_the_weights_own() -> None:
    policy = trained_lora_policy()
    assert HFSampler(policy, SamplerConfig(dtype="bfloat16")).dtype == torch.bfloat16
    assert HFSampler(policy, SamplerConfig(dtype="float32")).dtype == torch.float32
    seen = []
    real = Policy.generation_model

    def spy(self: Policy, rows: int, dtype: torch.dtype | None = None, prepack: bool = True) -> object:
        seen.append(dtype)
        return real(self, rows, dtype, prepack)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Policy, "generation_model", spy)
        HFSampler(policy, SamplerConfig(dtype="bfloat16", max_new_tokens=2))(PROMPTS[:1], 2)
        sample(policy, PROMPTS[:1], 1, SamplerConfig(dtype="bfloat16", max_new_tokens=2), greedy=True)
    assert seen == [torch.bfloat16, None]  # evaluation's sample() keeps the weights' own dtype


def test_bf16_sampling_weights_merge_lora_and_restore_the_fp32_weights_bitwise() -> None:
    policy = trained_lora_policy()
    enc = encoded(policy)
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    with torch.no_grad():
        adapted = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        with policy.generation_model(rows=3, dtype=torch.bfloat16) as model:
            assert {p.dtype for n, p in model.named_parameters() if "lora_" in n} == {torch.float32}  # idle adapters
            assert model.get_input_embeddings().weight.dtype == torch.bfloat16
            merged = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        with policy.model.disable_adapter():
            base = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
    assert merged.dtype == torch.bfloat16
    # bf16 rounding moves the logits (|z| up to 3 here) by 0.01 on average; the adapters by 0.57.
    assert (merged.float() - adapted).abs().mean() < 0.03
    assert (merged.float() - base).abs().mean() > 0.3  # the adapters are merged in
    after = policy.model.state_dict()
    assert all(after[k].dtype == before[k].dtype and torch.equal(before[k], after[k]) for k in before)


def test_bf16_samples_come_from_nearly_the_fp32_policy() -> None:
    """The bound on what bf16 sampling changes, on the tiny model with large adapters (measured
    on AMX: |Δ log p| 0.018, KL 4e-4, argmax 95%; the embedded model's figures are in
    tests/test_embedded.py). The loss never sees these numbers; they say how far the
    distribution the samples come from moved. Bounds with room for other CPUs' bf16 kernels."""
    figures = sampling_fidelity(trained_lora_policy(), PROMPTS, 4, 16, torch.bfloat16)
    assert figures["logp"] < 0.04, figures
    assert figures["kl"] < 2e-3, figures
    assert figures["argmax"] > 0.85, figures


def test_sample_builds_a_rollout_of_groups() -> None:
    torch.manual_seed(0)
    policy = trained_lora_policy()
    ro = sample(policy, PROMPTS[:2], 3, SamplerConfig(max_new_tokens=6))
    assert ro.input_ids.shape[0] == 6 and ro.prompts == [PROMPTS[0]] * 3 + [PROMPTS[1]] * 3
    assert ro.attention_mask[:, -ro.response_len :].equal(ro.response_mask)
    assert len(ro.completions) == 6
