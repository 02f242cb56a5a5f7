"""The CPU kernels: token log-probs (values and hand-written gradient) against plain torch."""

from __future__ import annotations

import math

import pytest
import torch

from biasgrpo import kernels as K


def test_token_logprobs_match_log_softmax_and_entropy() -> None:
    torch.manual_seed(0)
    logits = 3 * torch.randn(3, 5, 11)
    tokens = torch.randint(0, 11, (3, 5))
    logp = torch.log_softmax(logits, -1)
    logprobs, entropy = K.token_logprobs(logits, tokens)
    torch.testing.assert_close(logprobs, logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1))
    torch.testing.assert_close(entropy, -(logp.exp() * logp).sum(-1))


def test_token_logprobs_entropy_of_uniform_and_of_one_hot() -> None:
    logits = torch.zeros(1, 2, 8)
    logits[0, 1, 3] = 1e4  # all the mass on token 3
    logprobs, entropy = K.token_logprobs(logits, torch.tensor([[5, 3]]))
    torch.testing.assert_close(entropy, torch.tensor([[math.log(8), 0.0]]))
    torch.testing.assert_close(logprobs, torch.tensor([[-math.log(8), 0.0]]))


@pytest.mark.parametrize("positions", [1, 4, 64])
def test_token_logprobs_gradient(positions: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-written backward is onehot - softmax, at every chunk size; gradcheck in float64."""
    monkeypatch.setattr(K._TokenLogprobs, "POSITIONS", positions)
    torch.manual_seed(0)
    full = torch.randn(3, 6, 7, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, 7, (3, 4))
    # A strided view, as the trainer passes (the logits of a slice of the sequence).
    assert torch.autograd.gradcheck(lambda x: K.token_logprobs(x[:, 1:5], tokens)[0], (full,))
    weights = torch.randn(3, 4, dtype=torch.float64)
    (K.token_logprobs(full[:, 1:5], tokens)[0] * weights).sum().backward()
    expected = torch.zeros_like(full)
    softmax = torch.softmax(full.detach()[:, 1:5], -1)
    expected[:, 1:5] = weights.unsqueeze(-1) * (torch.nn.functional.one_hot(tokens, 7) - softmax)
    torch.testing.assert_close(full.grad, expected)


def test_token_logprobs_at_a_temperature_are_those_of_the_scaled_logits() -> None:
    """Values and gradient at τ = 0.7 equal log_softmax(z / τ) composed from torch ops (float64)."""
    torch.manual_seed(0)
    z = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, 5, (2, 3))
    logprobs, entropy = K.token_logprobs(z, tokens, 0.7)
    logp = torch.log_softmax(z / 0.7, -1)
    torch.testing.assert_close(logprobs, logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1))
    torch.testing.assert_close(entropy, -(logp.exp() * logp).sum(-1))
    assert torch.autograd.gradcheck(lambda x: K.token_logprobs(x, tokens, 0.7)[0], (z,))
    assert not torch.allclose(logprobs, K.token_logprobs(z, tokens)[0])
