"""Pure tensor maths shared by the algorithms.

Every function here takes tensors and plain numbers, returns tensors, and imports only
torch, so each can be checked against the paper by eye and tested against hand-worked
values.

Notation: B prompts, G completions per prompt, N = B*G sequences, T response tokens.
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is 1. An all-zero mask gives 0, not NaN."""
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1.0)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased variance of ``values`` over the positions where ``mask`` is 1."""
    mask = mask.to(values.dtype)
    mean = masked_mean(values, mask)
    count = mask.sum()
    var = masked_mean((values - mean) ** 2, mask)
    return var * count / (count - 1).clamp(min=1.0)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalise ``values`` to unit variance (and zero mean if ``shift_mean``) over ``mask``."""
    mean = masked_mean(values, mask)
    whitened = (values - mean) * torch.rsqrt(masked_var(values, mask) + 1e-8)
    return whitened if shift_mean else whitened + mean


def group_advantages(rewards: torch.Tensor, group_size: int, norm: str, eps: float) -> torch.Tensor:
    """GRPO outcome advantage, one number per completion.

    A_i = (r_i - mean(r_group)) / (std(r_group) + eps)   (Shao et al. 2024, eq. 3; BiasGRPO §3)

    Args:
        rewards: ``[B*G]`` rewards, the G completions of one prompt contiguous.
        group_size: G.
        norm: "group" divides by the group's std (the paper), "batch" by the std of the
            whole batch (Dr.GRPO-style: groups whose answers barely differ are not blown
            up), "none" only subtracts the group mean.
        eps: added to the std so a group of equal rewards gives 0, never NaN.

    Returns:
        ``[B*G]`` advantages.
    """
    grouped = rewards.view(-1, group_size)  # [B, G]
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if norm == "group":
        scale = grouped.std(dim=1, keepdim=True) + eps
    elif norm == "batch":
        scale = rewards.std() + eps
    elif norm == "none":
        scale = torch.ones_like(grouped[:, :1])
    else:
        raise ValueError(f"unknown advantage norm {norm!r}: use group, batch or none")
    return (centred / scale).reshape(-1)


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference), always >= 0.

    k3 = exp(ref - logp) - (ref - logp) - 1   (Schulman 2020, "Approximating KL divergence";
    the estimator GRPO uses). Its gradient is an unbiased estimate of the KL gradient.
    """
    log_ratio = ref_logprobs - logprobs
    return torch.exp(log_ratio) - log_ratio - 1.0


def clipped_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_eps_low: float,
    clip_eps_high: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO clipped policy-gradient loss per token (to be minimised).

    loss_t = -min(ρ_t A, clip(ρ_t, 1-ε_low, 1+ε_high) A),  ρ_t = exp(logp_t - old_logp_t)

    Args:
        logprobs, old_logprobs: ``[N, T]`` per-token log-probs under the current and the
            sampling policy.
        advantages: ``[N, T]`` or ``[N, 1]`` (one advantage per sequence, broadcast).

    Returns:
        ``(loss, clipped)``, both ``[N, T]``; ``clipped`` is 1.0 where the clipped branch
        was chosen (it carries no gradient there).
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps_low, 1.0 + clip_eps_high) * advantages
    loss = -torch.min(unclipped, clipped)
    return loss, (clipped < unclipped).to(logprobs.dtype)


def aggregate(loss: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Reduce a ``[N, T]`` per-token loss to a scalar.

    "seq_mean": mean over each sequence's tokens, then over sequences (original GRPO:
    every completion weighs the same whatever its length). "token_mean": mean over all
    tokens of the batch (DAPO: long completions are not down-weighted per token).
    """
    if mode == "seq_mean":
        return masked_mean(loss, mask, dim=1).mean()
    if mode == "token_mean":
        return masked_mean(loss, mask)
    raise ValueError(f"unknown loss aggregation {mode!r}: use seq_mean or token_mean")


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy of the categorical distribution given by ``logits`` ``[..., V]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def gather_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of each ``tokens[n, t]`` under ``logits[n, t, :]``; ``[N, T]``.

    Uses logsumexp rather than a full log_softmax so the ``[N, T, V]`` tensor of
    log-probs is never materialised (V is 49k for SmolLM2, 51k for Phi-2).
    """
    logits = logits.float()
    picked = torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)
