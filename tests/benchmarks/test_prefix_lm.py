"""PrefixLM (each context once, choices from its KV cache) against lm-eval's HFLM, request by request."""

from __future__ import annotations

import itertools

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from transformers import MistralConfig, MistralForCausalLM

from biasgrpo.benchmarks.prefix_lm import (
    PrefixLM,
    common_length,
    packed_mask,
    packed_positions,
    score,
    split_request,
)
from biasgrpo.config import ModelConfig
from biasgrpo.models import tiny_tokenizer
from biasgrpo.policy import Policy

CONTEXTS = [
    "I saw a grandson and their grandfather last week.\n\nQ: Who was not comfortable?\nA:",
    "I saw a grandson and their grandfather last month.\n\nQ: Who was not comfortable?\nA:",
    "I saw a grandson and their grandfather last week.\n\nQ: Who was comfortable?\nA:",
    "Trailing spaces move to the continuation  ",
    "",  # empty: HFLM conditions on the prefix token
]
CHOICES = [" Unknown", " The grandfather", " The grandson who lives here", "!", " Can't be determined"]


def requests(pairs: list[tuple[str, str]]) -> list[Instance]:
    return [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]


def both(
    model: torch.nn.Module, tokenizer, reqs: list[Instance], packed: bool | None = None, **kwargs: object
) -> tuple[list, list]:
    """HFLM's and PrefixLM's answers to the same requests, built with the same arguments.

    ``packed`` forces PrefixLM's way of running continuations (default: its own choice)."""
    theirs = HFLM(pretrained=model, tokenizer=tokenizer, **kwargs).loglikelihood(reqs, disable_tqdm=True)
    lm = PrefixLM(pretrained=model, tokenizer=tokenizer, **kwargs)
    lm.packed = lm.packed if packed is None else packed
    return theirs, lm.loglikelihood(reqs, disable_tqdm=True)


def assert_same(theirs: list[tuple[float, bool]], ours: list[tuple[float, bool]]) -> None:
    assert len(ours) == len(theirs)
    for (ll_theirs, greedy_theirs), (ll_ours, greedy_ours) in zip(theirs, ours):
        assert ll_ours == pytest.approx(ll_theirs, rel=1e-6, abs=1e-5)
        assert greedy_ours == greedy_theirs


@pytest.fixture(scope="module")
def lora_policy() -> Policy:
    """The tiny model with LoRA adapters that change its outputs (PEFT starts them at zero)."""
    torch.manual_seed(0)
    policy = Policy(ModelConfig(name="tiny", loader="tiny"), torch.device("cpu"), needs_reference=False)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    return policy


# ----------------------------------------------------------------- pure maths ---
def test_split_request_is_hflms_window_without_the_continuation() -> None:
    assert split_request([1, 2, 3], [4, 5], max_length=10) == ((1, 2, 3), [4, 5])
    # HFLM feeds (ctx + cont)[-(max_length + 1):][:-1] = [3, 4] and scores 4, 5 from positions of 3, 4.
    assert split_request([1, 2, 3], [4, 5], max_length=2) == ((3,), [4, 5])
    assert split_request([1, 2, 3], [4, 5], max_length=3) == ((2, 3), [4, 5])
    with pytest.raises(ValueError, match="max_length=2"):
        split_request([1], [4, 5, 6], max_length=2)


def test_common_length() -> None:
    assert common_length((1, 2, 3), (1, 2, 4, 5)) == 2
    assert common_length((1, 2), (1, 2, 3)) == 2
    assert common_length((7,), (1,)) == 0
    assert common_length((), (1,)) == 0


def test_packed_positions_restart_in_each_segment() -> None:
    assert packed_positions([2, 3, 1]).tolist() == [0, 1, 0, 1, 2, 0]


def test_packed_mask_sees_the_prefix_and_the_own_segment_causally() -> None:
    mask = packed_mask(cached=2, tail=0, lengths=[2, 1], dtype=torch.float32)
    low = torch.finfo(torch.float32).min
    assert mask.shape == (1, 1, 3, 5)
    # columns: cached 0, cached 1, segment 0 token 0, segment 0 token 1, segment 1 token 0
    assert mask[0, 0].tolist() == [
        [0, 0, 0, low, low],  # segment 0, token 0
        [0, 0, 0, 0, low],  # segment 0, token 1
        [0, 0, low, low, 0],  # segment 1, token 0
    ]


def test_packed_mask_with_a_tail_of_the_prefix_in_the_row() -> None:
    mask = packed_mask(cached=1, tail=2, lengths=[1, 2], dtype=torch.float32)
    low = torch.finfo(torch.float32).min
    # columns: cached, tail 0, tail 1, segment 0 token 0, segment 1 token 0, segment 1 token 1
    assert mask[0, 0].tolist() == [
        [0, 0, low, low, low, low],  # tail 0: causal
        [0, 0, 0, low, low, low],  # tail 1
        [0, 0, 0, 0, low, low],  # segment 0: the whole prefix and itself
        [0, 0, 0, low, 0, low],  # segment 1, token 0: not segment 0
        [0, 0, 0, low, 0, 0],  # segment 1, token 1
    ]


def test_score_sums_the_tokens_log_probs_and_checks_each_is_the_argmax() -> None:
    logprobs = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]))
    ll, greedy = score(logprobs, [0, 2])
    assert ll == pytest.approx(float(torch.log(torch.tensor(0.7 * 0.6))))
    assert greedy is True
    ll, greedy = score(logprobs, [1, 2])
    assert ll == pytest.approx(float(torch.log(torch.tensor(0.2 * 0.6))))
    assert greedy is False


# ------------------------------------------------------------- against HFLM ---
@pytest.mark.parametrize("packed", [True, False], ids=["packed", "batched"])
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_every_request_agrees_with_hflm(lora_policy: Policy, batch_size: int, packed: bool) -> None:
    reqs = requests([(c, k) for c in CONTEXTS for k in CHOICES])
    theirs, ours = both(lora_policy.model, lora_policy.tokenizer, reqs, packed, batch_size=batch_size)
    assert_same(theirs, ours)
    assert len({ll for ll, _ in ours}) == len(ours)  # a real comparison: no two requests score the same


def test_left_truncation_agrees_with_hflm(lora_policy: Policy) -> None:
    """Contexts longer than max_length lose their left end exactly as in HFLM."""
    reqs = requests([(c, k) for c in CONTEXTS[:3] for k in CHOICES])
    theirs, ours = both(lora_policy.model, lora_policy.tokenizer, reqs, batch_size=4, max_length=40)
    assert_same(theirs, ours)
    untruncated = PrefixLM(pretrained=lora_policy.model, tokenizer=lora_policy.tokenizer, batch_size=4)
    full = untruncated.loglikelihood(reqs, disable_tqdm=True)
    assert all(a[0] != pytest.approx(b[0]) for a, b in zip(ours, full))  # truncation took effect on every one


def test_greedy_continuations_agree_with_hflm(lora_policy: Policy) -> None:
    """Continuations the model itself would produce greedily: is_greedy is True in both (and a repeat)."""
    tok, model = lora_policy.tokenizer, lora_policy.model
    pairs = []
    for context in CONTEXTS[:3]:
        ids = torch.tensor([tok.encode(context)])
        with torch.no_grad():
            out = model.generate(input_ids=ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
        for n in (1, 4):
            pairs.append((context, tok.decode(out[0, ids.shape[1] : ids.shape[1] + n])))
    theirs, ours = both(model, tok, requests([*pairs, *[(CONTEXTS[0], " zzz")] * 2]), batch_size=4)
    assert_same(theirs, ours)
    assert [g for _, g in ours] == [True] * len(pairs) + [False, False]
    assert ours[-1] == ours[-2]  # a repeated request is scored once, and both get the answer


def test_sliding_window_model_agrees_with_hflm() -> None:
    """The whole past is cached and the model's own mask applies its window: still HFLM's answers."""
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    config = MistralConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, sliding_window=8, initializer_range=0.5, pad_token_id=0, eos_token_id=1,
        bos_token_id=None,
    )  # fmt: skip
    model = MistralForCausalLM(config).eval()
    assert not PrefixLM(pretrained=model, tokenizer=tok).packed  # a mask of ours would override the window
    theirs, ours = both(model, tok, requests([(c, k) for c in CONTEXTS[:3] for k in CHOICES]), batch_size=4)
    assert_same(theirs, ours)


def test_contexts_share_their_common_prefix(lora_policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    """One forward pass per distinct context, starting where it stops sharing tokens with the one before."""
    lm = PrefixLM(pretrained=lora_policy.model, tokenizer=lora_policy.tokenizer, batch_size=16)
    assert lm.packed
    starts: list[int] = []  # first position of each forward pass
    forward = lm._forward

    def recording(ids: torch.Tensor, positions: torch.Tensor, *args: object) -> torch.Tensor:
        starts.append(int(positions[0, 0]))
        return forward(ids, positions, *args)

    monkeypatch.setattr(lm, "_forward", recording)
    lm.loglikelihood(requests([(c, k) for c in CONTEXTS[:3] for k in CHOICES]), disable_tqdm=True)
    tokens = sorted(tuple(lm.tok_encode(c)) for c in CONTEXTS[:3])
    assert starts == [0] + [common_length(a, b) for a, b in itertools.pairwise(tokens)]
    # By hand (one token per character): "...last month..." first, then "...last week...Who was
    # comfortable" (44 characters shared with it), then "...Who was not comfortable" (62 shared).
    assert starts == [0, 44, 62]
