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


def leave_one_out_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO's advantage: each reward minus the mean of the other G - 1 rewards of its group.

    A_i = r_i - (Σ_j r_j - r_i) / (G - 1) = G/(G-1) · (r_i - mean_group(r))   (Kool et al. 2019)

    Args:
        rewards: ``[B*G]`` rewards, the G completions of one prompt contiguous; G >= 2.

    Returns:
        ``[B*G]`` advantages; they sum to 0 within each group.
    """
    grouped = rewards.view(-1, group_size)  # [B, G]
    others = (grouped.sum(dim=1, keepdim=True) - grouped) / (group_size - 1)
    return (grouped - others).reshape(-1)


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference), always >= 0.

    k3 = exp(ref - logp) - (ref - logp) - 1   (Schulman 2020, "Approximating KL divergence";
    the estimator GRPO uses). Its gradient is an unbiased estimate of the KL gradient.
    """
    log_ratio = ref_logprobs - logprobs
    return torch.exp(log_ratio) - log_ratio - 1.0


def importance_log_ratio(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor, level: str
) -> torch.Tensor:
    """log ρ, the log importance ratio of the current to the sampling policy.

    "token" (PPO, GRPO): log ρ_t = logp_t - old_logp_t, ``[N, T]``.
    "sequence" (GSPO, Zheng et al. 2025, eq. 7): the sequence's mean per-token log-ratio,
    log ρ_i = 1/|y_i| Σ_t (logp_t - old_logp_t), ``[N, 1]``, shared by all its tokens, so
    one long completion's ratio is not a product of hundreds of noisy token ratios.
    """
    log_ratio = logprobs - old_logprobs
    if level == "token":
        return log_ratio
    if level == "sequence":
        return masked_mean(log_ratio, mask, dim=1).unsqueeze(1)
    raise ValueError(f"unknown importance sampling level {level!r}: use token or sequence")


def clipped_surrogate(
    log_ratio: torch.Tensor,
    advantages: torch.Tensor,
    clip_eps_low: float,
    clip_eps_high: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO clipped policy-gradient loss per token (to be minimised).

    loss_t = -min(ρ_t A, clip(ρ_t, 1-ε_low, 1+ε_high) A),  ρ_t = exp(log_ratio_t)

    Args:
        log_ratio: ``[N, T]`` per-token log-ratios logp - old_logp, or ``[N, 1]`` one per
            sequence (:func:`importance_log_ratio`).
        advantages: ``[N, T]`` or ``[N, 1]`` (one advantage per sequence, broadcast).

    Returns:
        ``(loss, clipped)``, both broadcast to the larger shape; ``clipped`` is 1.0 where the
        clipped branch was chosen (it carries no gradient there).
    """
    ratio = torch.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps_low, 1.0 + clip_eps_high) * advantages
    loss = -torch.min(unclipped, clipped)
    return loss, (clipped < unclipped).to(log_ratio.dtype)


LOSS_TYPES = ("grpo", "bnpo", "dapo", "dr_grpo")


def aggregate(
    loss: torch.Tensor, mask: torch.Tensor, loss_type: str, tokens_per_sequence: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """Reduce a ``[n, T]`` per-token loss to a scalar, under TRL's names for the choices.

    "grpo": mean over each sequence's tokens, then over sequences (Shao et al. 2024: every
        completion weighs the same whatever its length).
    "bnpo": mean over all tokens of the minibatch (long completions are not down-weighted).
    "dapo": sum over the minibatch's tokens / (n · the mean length of the step's whole batch),
        Yu et al. 2025: the token mean of the whole batch, the same normaliser for every
        minibatch (equal to "bnpo" when the batch is one minibatch).
    "dr_grpo": sum / (n · max completion length), a constant normaliser (Liu et al. 2025,
        Dr. GRPO: no length bias from dividing by each completion's own length).

    ``tokens_per_sequence`` is the constant of "dapo" and "dr_grpo".
    """
    if loss_type == "grpo":
        return masked_mean(loss, mask, dim=1).mean()
    if loss_type == "bnpo":
        return masked_mean(loss, mask)
    if loss_type in ("dapo", "dr_grpo"):
        return (loss * mask.to(loss.dtype)).sum() / (mask.shape[0] * tokens_per_sequence)
    raise ValueError(f"unknown loss type {loss_type!r}: use {' | '.join(LOSS_TYPES)}")


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    response_mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised Advantage Estimation over response tokens (Schulman et al. 2016, eq. 16).

        δ_t = r_t + γ V_{t+1} - V_t
        A_t = δ_t + γλ A_{t+1}
        R_t = A_t + V_t          (the λ-return, the critic's target)

    The loop runs backwards over T as in cleanRL and torchtune. Positions where the mask
    is 0 are skipped: their rewards and values are never read (so padding may hold any
    value, NaN included), and V after the last real token is 0, so bootstrapping stops
    at the end of each completion.

    Args:
        rewards: ``[N, T]`` per-token rewards.
        values: ``[N, T]`` critic values V(s_t), the state before response token t.
        response_mask: ``[N, T]`` 1 on real response tokens.
        gamma: γ, the discount.
        lam: λ, the bias-variance trade-off (0: one-step TD, 1: Monte-Carlo returns).

    Returns:
        ``(advantages, returns)``, both ``[N, T]`` and 0 where the mask is 0.
    """
    mask = response_mask.bool()
    next_value = torch.zeros_like(values[:, 0])  # V_{t+1}, 0 past the end
    running = torch.zeros_like(values[:, 0])  # A_{t+1}
    reversed_adv = []
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = torch.where(mask[:, t], delta + gamma * lam * running, running)
        next_value = torch.where(mask[:, t], values[:, t], next_value)
        reversed_adv.append(running)
    advantages = torch.stack(reversed_adv[::-1], dim=1)  # [N, T]
    zero = torch.zeros_like(advantages)
    return torch.where(mask, advantages, zero), torch.where(mask, advantages + values, zero)


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped critic loss, masked mean over tokens (cleanRL ``clip_vloss``).

        L_V = 0.5 · max((V - R)², (clip(V, V_old - ε, V_old + ε) - R)²)

    Args:
        values: ``[N, T]`` current critic values (with grad).
        old_values: ``[N, T]`` values at rollout time.
        returns: ``[N, T]`` GAE returns (targets).
        mask: ``[N, T]`` 1 on real response tokens.
        clip_eps: ε, how far the value may move from ``old_values`` before the clipped
            branch takes over.

    Returns:
        ``(loss, clip_frac)``: the scalar loss, and the fraction of tokens where the
        clipped branch was larger (so it, and no gradient, was used).
    """
    clipped_values = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
    loss_unclipped = (values - returns) ** 2
    loss_clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(loss_unclipped, loss_clipped), mask)
    clip_frac = masked_mean((loss_clipped > loss_unclipped).to(values.dtype), mask)
    return loss, clip_frac


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """How much of the returns' variance the critic explains, over ``mask``.

        EV = 1 - Var[R - V] / Var[R]

    1 is a perfect critic, 0 one no better than a constant, < 0 worse than a constant.
    When the returns have no variance there is nothing to explain and 0 is returned,
    rather than the NaN (0/0) that cleanRL and verl log, so averaged metrics stay finite.
    """
    var_returns = masked_var(returns, mask)
    var_residual = masked_var(returns - values, mask)
    ev = 1.0 - var_residual / var_returns.clamp(min=torch.finfo(var_returns.dtype).tiny)
    return torch.where(var_returns > 0, ev, torch.zeros_like(ev))


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
    kind: str,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair preference loss from sequence log-probs.

    With h = (log π(y_c) - log π_ref(y_c)) - (log π(y_r) - log π_ref(y_r)):

    "sigmoid" (DPO, Rafailov et al. 2023, eq. 7; conservative label smoothing ε, cDPO):
        L = -(1 - ε) log σ(β h) - ε log σ(-β h)
    "ipo" (Azar et al. 2023, eq. 17):
        L = (h - 1/(2β))²
      IPO defines the log-probs as per-token means over each response, so for "ipo" the
      caller passes token-averaged log-probs (``sequence_logprobs(..., average=True)``);
      for "sigmoid" it passes sums.

    Args:
        policy_chosen, policy_rejected: ``[B]`` policy log-probs of the chosen and
            rejected responses (with grad).
        ref_chosen, ref_rejected: ``[B]`` reference log-probs of the same responses.
        beta: β, strength of the implicit KL regulariser.
        kind: "sigmoid" or "ipo".
        label_smoothing: ε, assumed probability that a pair's label is flipped
            (sigmoid only).

    Returns:
        ``(losses, chosen_rewards, rejected_rewards)``, each ``[B]``; the implicit
        rewards β·(log π - log π_ref) are detached, for logging.
    """
    chosen_logratio = policy_chosen - ref_chosen
    rejected_logratio = policy_rejected - ref_rejected
    h = chosen_logratio - rejected_logratio
    if kind == "sigmoid":
        logits = beta * h
        losses = -(1.0 - label_smoothing) * torch.nn.functional.logsigmoid(logits)
        losses = losses - label_smoothing * torch.nn.functional.logsigmoid(-logits)
    elif kind == "ipo":
        if label_smoothing != 0.0:
            raise ValueError("label_smoothing applies to the sigmoid loss only, not ipo")
        losses = (h - 1.0 / (2.0 * beta)) ** 2
    else:
        raise ValueError(f"unknown DPO loss {kind!r}: use sigmoid or ipo")
    return losses, beta * chosen_logratio.detach(), beta * rejected_logratio.detach()


def sequence_logprobs(logprobs: torch.Tensor, mask: torch.Tensor, average: bool) -> torch.Tensor:
    """Log-probability of each whole response: ``[N, T]`` per-token -> ``[N]``.

    The sum over the mask is log π(y|x); ``average`` gives the per-token mean instead,
    which IPO prescribes so that long responses do not dominate.
    """
    if average:
        return masked_mean(logprobs, mask, dim=1)
    return (logprobs * mask.to(logprobs.dtype)).sum(dim=1)
