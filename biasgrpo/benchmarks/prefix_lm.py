"""lm-eval's HFLM with its log-likelihoods computed once per context: every choice scored from a KV cache.

A multiple-choice task asks lm-eval for one log-likelihood per (context, choice): BBQ has twelve
choices per question, and TruthfulQA repeats its six-shot primer for every MC1 and MC2 choice.
lm-eval's HFLM runs the whole context again for each request. :class:`PrefixLM` takes the same
requests, tokenised by HFLM's own code (``TemplateLM._encode_pair``: the context encoded alone, the
continuation as the rest of the joint encoding, trailing spaces moved to the continuation), and

1. splits each into the tokens fed before its continuation (the *prefix*) and the continuation,
   after HFLM's left truncation to ``max_length + 1`` tokens (:func:`split_request`);
2. groups the requests by prefix and runs each distinct prefix once; prefixes are visited in sorted
   order, so a prefix reuses the KV cache of the one before it up to their common part
   (:func:`common_length`; TruthfulQA's primer is then run once for all questions);
3. scores every continuation from its prefix's cache: the prefix's last position predicts the
   first token; identical continuations are scored once; the continuations longer than one token
   run their other tokens packed end to end after the prefix, in the prefix's own forward pass
   (one pass per distinct context, for up to ``batch_size`` such continuations; more take further
   passes over the cache). The row's mask (:func:`packed_mask`) lets each continuation see the
   prefix and its own earlier tokens only, and its positions restart where the prefix ends: what a
   row of its own would compute. (Models with sliding-window layers, whose window such a mask would
   override, run the prefix alone and then one right-padded row per continuation over the cache
   repeated.)

The answer per request is HFLM's: the sum of the continuation's token log-probabilities
(``log_softmax`` in ``softmax_dtype``) and whether each token is the arg-max. Under causal attention
the key/value states of a position depend only on the tokens up to it, so this computes the same
quantities as HFLM; only floating-point rounding differs (relative differences of a few 1e-6 in
float32, docs/evaluation.md; tests/benchmarks/test_lm_eval_agreement.py and test_prefix_lm.py check
the log-likelihoods and the figures).

Everything else (tokenisation, ``max_length``, ``generate_until``, rolling log-likelihoods) is
HFLM's. The cache keeps every layer's whole past (transformers' ``DynamicLayer``); a model
whose forward pass puts other layers in the cache (recurrent or linear attention) stops with a
message naming ``lm_backend``. Prompt-tuning PEFT adapters (virtual tokens) are not supported; LoRA is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from tqdm import tqdm
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from biasgrpo.errors import ConfigError

Request = tuple[tuple[str, str] | None, list[int], list[int]]  # (strings, context tokens, continuation tokens)


def split_request(context: list[int], continuation: list[int], max_length: int) -> tuple[tuple[int, ...], list[int]]:
    """(prefix, continuation): the tokens HFLM feeds before the continuation, and the continuation.

    HFLM feeds ``(context + continuation)[-(max_length + 1):][:-1]`` and scores the last
    ``len(continuation)`` positions, so the prefix is that window without the continuation.
    It is never empty: HFLM requires ``len(continuation) <= max_length``.
    """
    if not context or not continuation or len(continuation) > max_length:
        raise ValueError(
            f"a request needs a context and a continuation of 1 to max_length={max_length} tokens, "
            f"got {len(context)} and {len(continuation)}"
        )
    window = (context + continuation)[-(max_length + 1) :]
    return tuple(window[: -len(continuation)]), continuation


def common_length(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def score(logprobs: torch.Tensor, tokens: list[int]) -> tuple[float, bool]:
    """HFLM's answer: (sum of the tokens' log-probs, every token the arg-max) from ``logprobs [n, V]``."""
    target = torch.tensor(tokens, dtype=torch.long, device=logprobs.device)
    greedy = bool((logprobs.argmax(dim=-1) == target).all())
    return float(logprobs.gather(1, target.unsqueeze(1)).sum()), greedy


@dataclass
class Prefix:
    """A prefix run through the model: its tokens, key/value states per layer, last log-probs ``[V]``."""

    tokens: tuple[int, ...]
    states: list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values [1, heads, len(tokens), head_dim]
    last: torch.Tensor


def packed_positions(lengths: list[int]) -> torch.Tensor:
    """Offsets ``[sum(lengths)]`` of packed segments' tokens within their own segment: 0, 1, ..., 0, 1, ..."""
    return torch.cat([torch.arange(n) for n in lengths]) if lengths else torch.zeros(0, dtype=torch.long)


def packed_mask(cached: int, tail: int, lengths: list[int], dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask ``[1, 1, q, cached + q]`` of a row: a prefix's tail, then packed segments.

    The row holds ``tail`` more tokens of a prefix whose first ``cached`` tokens are in the cache,
    then segments of ``lengths`` tokens (``q = tail + sum(lengths)``). Every query sees the cached
    part; a tail token sees the tail up to itself; a segment token sees the whole tail and its own
    segment up to itself. Seen is 0, the rest the dtype's lowest value.
    """
    segment = torch.repeat_interleave(torch.arange(len(lengths) + 1), torch.tensor([tail, *lengths]))  # [q]
    q = len(segment)
    causal = torch.ones(q, q, dtype=torch.bool).tril()
    own = segment[:, None] == segment[None, :]
    tail_cols = (segment[None, :] == 0).expand(q, q)  # the prefix's tail: seen by every later token
    seen = torch.cat([torch.ones(q, cached, dtype=torch.bool), causal & (own | tail_cols)], dim=1)
    return torch.zeros(1, 1, q, cached + q, dtype=dtype).masked_fill(~seen, torch.finfo(dtype).min)


@register_model("biasgrpo-prefix")
class PrefixLM(HFLM):
    """HFLM (same constructor, same tokenisation) that runs each distinct context once per evaluation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Continuations packed in one row need a custom mask, which replaces the model's own: only for
        # models without sliding-window layers, under an attention that adds a 4D mask (sdpa, eager).
        sliding = any(getattr(layer, "is_sliding", False) for layer in DynamicCache(config=self.model.config).layers)
        attention = getattr(self.model.config, "_attn_implementation", None)
        self.packed = not sliding and attention in ("sdpa", "eager")

    def _loglikelihood_tokens(
        self, requests: list[Request], disable_tqdm: bool = False, override_bs: int | None = None
    ) -> list[tuple[float, bool]]:
        if self.backend != "causal":
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        batch_size = override_bs or (self.batch_size if isinstance(self.batch_size, int) else self.max_batch_size)
        splits = [split_request(context, continuation, self.max_length) for _, context, continuation in requests]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, (prefix, _) in enumerate(splits):
            groups[prefix].append(i)

        answers: list[tuple[float, bool] | None] = [None] * len(requests)
        previous: Prefix | None = None
        with tqdm(total=len(requests), disable=disable_tqdm or self.rank != 0, desc="Prefix log-likelihoods") as bar:
            for tokens in sorted(groups):  # sorted: the previous prefix shares the most with this one
                members = groups[tokens]
                # Identical continuations (TruthfulQA's MC1 and MC2 share most answers) are scored once.
                unique = list(dict.fromkeys(tuple(splits[i][1]) for i in members))
                longer = sorted((c for c in unique if len(c) > 1), key=len, reverse=True)
                chunks = [longer[at : at + batch_size] for at in range(0, len(longer), batch_size)]
                # Packed: the first chunk rides in the prefix's own forward pass.
                first = chunks.pop(0) if self.packed and chunks else []
                previous, first_logprobs = self._run_prefix(tokens, previous, first)
                scores = {c: score(previous.last.unsqueeze(0), list(c)) for c in unique if len(c) == 1}
                runs = [(first, first_logprobs)] + [
                    (chunk, (self._packed if self.packed else self._batched)(previous, chunk)) for chunk in chunks
                ]
                for chunk, logprobs in runs:
                    for c, lp in zip(chunk, logprobs, strict=True):
                        scores[c] = score(torch.cat([previous.last.unsqueeze(0), lp]), list(c))
                for i in members:
                    answers[i] = scores[tuple(splits[i][1])]
                    if requests[i][0] is not None:  # rolling windows have no cache key (as in HFLM)
                        self.cache_hook.add_partial("loglikelihood", requests[i][0], answers[i])
                bar.update(len(members))
        return answers  # type: ignore[return-value]

    def _forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        cache: DynamicCache,
        attention_mask: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
    ) -> torch.Tensor:
        """Logits of ``ids [b, t]`` at ``positions [b, t]``: ``[b, t, V]``, or those ``logits_to_keep``
        selects (an int: the last ones, 0 = all; a tensor: these indices)."""
        with (
            torch.no_grad(),
            torch.autocast(
                device_type=self.device.type,
                dtype=self.mixed_precision_dtype,
                enabled=self.mixed_precision_dtype is not None,
            ),
        ):
            out = self.model(
                input_ids=ids,
                position_ids=positions,
                attention_mask=attention_mask,
                cache=cache,
                use_cache=True,
                logits_to_keep=logits_to_keep,
            )
        return out.logits

    def _run_prefix(
        self, tokens: tuple[int, ...], previous: Prefix | None, chunk: list[tuple[int, ...]]
    ) -> tuple[Prefix, list[torch.Tensor]]:
        """Run ``tokens``, reusing ``previous``'s states for the part they share (at least one token
        runs), with the continuations of ``chunk`` packed after it in the same forward pass.

        Returns the prefix and, per continuation of ``chunk``, the log-probs ``[len(c) - 1, V]``
        predicting its tokens after the first (see :meth:`_packed`).
        """
        reuse = min(common_length(previous.tokens, tokens), len(tokens) - 1) if previous is not None else 0
        cache = (
            DynamicCache(ddp_cache_data=[(k[:, :, :reuse], v[:, :, :reuse]) for k, v in previous.states])
            if previous is not None and reuse > 0
            else DynamicCache()
        )
        tail, lengths = len(tokens) - reuse, [len(c) - 1 for c in chunk]
        ids = torch.tensor([[*tokens[reuse:], *(t for c in chunk for t in c[:-1])]], device=self.device)
        positions = torch.cat([torch.arange(reuse, len(tokens)), len(tokens) + packed_positions(lengths)])
        mask, keep = None, 1  # the prefix alone: causal, and only its last position's logits
        if chunk:
            mask = packed_mask(reuse, tail, lengths, self.model.dtype).to(self.device)
            keep = torch.arange(tail - 1, tail + sum(lengths), device=self.device)
        logits = self._forward(ids, positions.to(self.device).unsqueeze(0), cache, mask, keep)
        if any(type(layer) is not DynamicLayer for layer in cache.layers):
            raise ConfigError(
                f"lm_backend=prefix needs a model whose every layer caches its whole past; "
                f"{type(self.model).__name__} has {sorted({type(la).__name__ for la in cache.layers})}. "
                "Set benchmark.<name>.lm_backend=hflm (lm-eval's HFLM) for this model"
            )
        logprobs = F.log_softmax(logits[0], dim=-1, dtype=self.softmax_dtype)  # [1 + sum(lengths), V]
        states = [(layer.keys[:, :, : len(tokens)], layer.values[:, :, : len(tokens)]) for layer in cache.layers]
        return Prefix(tokens, states, logprobs[0]), list(logprobs[1:].split(lengths)) if chunk else []

    def _packed(self, prefix: Prefix, chunk: list[tuple[int, ...]]) -> list[torch.Tensor]:
        """Log-probs ``[len(c) - 1, V]`` predicting each continuation's tokens after the first, all in one row.

        The continuations (but their last tokens) are laid end to end after the prefix; the mask
        (:func:`packed_mask`) lets each see the prefix and its own earlier tokens only, and each
        restarts its positions where the prefix ends: what a row of its own would compute.
        """
        lengths = [len(c) - 1 for c in chunk]
        ids = torch.tensor([[t for c in chunk for t in c[:-1]]], dtype=torch.long, device=self.device)
        positions = len(prefix.tokens) + packed_positions(lengths).to(self.device).unsqueeze(0)
        mask = packed_mask(len(prefix.tokens), 0, lengths, prefix.states[0][0].dtype).to(self.device)
        logits = self._forward(ids, positions, DynamicCache(ddp_cache_data=prefix.states), mask)  # [1, sum, V]
        return list(F.log_softmax(logits[0], dim=-1, dtype=self.softmax_dtype).split(lengths))

    def _batched(self, prefix: Prefix, chunk: list[tuple[int, ...]]) -> list[torch.Tensor]:
        """As :meth:`_packed`, one right-padded row per continuation over the prefix's cache repeated.

        For models with sliding-window layers, whose window a custom mask would override. Padding
        is harmless: causal attention never lets a real position see a later one.
        """
        width = len(chunk[0]) - 1  # longest first; every token but the last is fed
        ids = torch.tensor([list(c[:-1]) + [c[-1]] * (width + 1 - len(c)) for c in chunk], device=self.device)
        positions = torch.arange(len(prefix.tokens), len(prefix.tokens) + width, device=self.device)
        repeated = [(k.expand(len(chunk), -1, -1, -1), v.expand(len(chunk), -1, -1, -1)) for k, v in prefix.states]
        logits = self._forward(ids, positions.expand(len(chunk), -1), DynamicCache(ddp_cache_data=repeated))
        logprobs = F.log_softmax(logits, dim=-1, dtype=self.softmax_dtype)  # [b, width, V]
        return [logprobs[row, : len(c) - 1] for row, c in enumerate(chunk)]
