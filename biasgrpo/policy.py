"""The policy: model + tokenizer + LoRA, its reference, and per-token log-probs.

The reference policy is the same model with its LoRA adapters disabled, so no second
copy of the weights is held. Full fine-tuning (``model.lora.enabled=false``) keeps a
frozen copy instead, built only when the algorithm needs a reference.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator

import torch
from transformers import PreTrainedModel

from biasgrpo.config import ModelConfig
from biasgrpo.errors import ConfigError, ModelLoadError
from biasgrpo.kernels import prepacked_linears, token_logprobs
from biasgrpo.models import DTYPES, load_model
from biasgrpo.types import Forward


def pick_device(name: str) -> torch.device:
    """``device=auto | cpu | cuda`` as a torch device; cuda where none is visible is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is visible; use device=cpu or device=auto")
    return torch.device(name)


class Policy:
    """The trainable model and everything needed to score tokens under it."""

    def __init__(self, cfg: ModelConfig, device: torch.device, needs_reference: bool) -> None:
        model, tokenizer = load_model(cfg)
        tokenizer.padding_side = "left"  # generation appends on the right
        self.tokenizer = tokenizer
        self.use_chat_template = cfg.chat_template and tokenizer.chat_template is not None
        self.lora = cfg.lora.enabled
        self._frozen_reference: PreTrainedModel | None = None
        # generation_model's weights (LoRA merged, or in the sampling dtype) and their dtype (None: the
        # weights' own); those of the last dtype used only, so evaluation between training steps
        # does not hold a second set.
        self._sampling_buffers: tuple[torch.dtype | None, list[torch.Tensor]] = (None, [])
        if self.lora:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=cfg.lora.r,
                lora_alpha=cfg.lora.alpha,
                lora_dropout=cfg.lora.dropout,
                target_modules=list(cfg.lora.target_modules),
                task_type="CAUSAL_LM",
            )
            with warnings.catch_warnings():  # PEFT reads a property transformers 5 deprecated; nothing to act on
                warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
                model = get_peft_model(model, lora)
        elif needs_reference:
            self._frozen_reference = copy.deepcopy(model).requires_grad_(False).eval().to(device)
        if cfg.gradient_checkpointing:
            # Non-reentrant checkpointing lets gradients reach adapters whose inputs need none.
            # transformers renamed gradient_checkpointing_enable (deprecated, removed in v6).
            kwargs = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        # Always eval mode: dropout would make old and new log-probs of the same tokens
        # disagree. Gradients flow in eval mode all the same, and so does checkpointing.
        self.model = model.to(device).eval()
        self.device = device
        self.autocast_dtype = DTYPES.get(cfg.autocast)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only what training changes: the adapters under LoRA, every weight otherwise."""
        names = {n for n, p in self.model.named_parameters() if p.requires_grad}
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items() if k in names}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(state) - set(self.model.state_dict())
        if missing:
            raise ModelLoadError(f"checkpoint has weights this model lacks: {sorted(missing)[:5]}")
        self.model.load_state_dict(state, strict=False)

    def format_prompts(self, prompts: list[str]) -> list[str]:
        """Wrap each prompt as one user turn of the chat template (when the model has one)."""
        if not self.use_chat_template:
            return prompts
        return [
            self.tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in prompts
        ]

    def autocast(self) -> contextlib.AbstractContextManager:
        """``torch.autocast`` to ``model.autocast``'s dtype, or nothing when it is none."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @contextlib.contextmanager
    def generation_model(
        self, rows: int, dtype: torch.dtype | None = None, prepack: bool = True
    ) -> Iterator[torch.nn.Module]:
        """The policy, for sampling ``rows`` sequences at a time with weights in ``dtype`` (None:
        the weights' own).

        The sampling weights are swapped in for the duration (:meth:`_sampling_weights`): under
        LoRA the adapters merged in, and a copy in ``dtype`` where it differs. On CPU the linear
        layers then multiply with prepacked weights (:func:`prepacked_linears`) unless
        ``prepack`` is false.
        """
        own = next(self.model.parameters()).dtype
        with (
            self._sampling_weights(None if dtype == own else dtype) as modules,
            self.autocast(),
            prepacked_linears(modules, rows, prepack and self.autocast_dtype is None),
        ):
            yield self.model

    @contextlib.contextmanager
    def _sampling_weights(self, dtype: torch.dtype | None) -> Iterator[list[torch.nn.Module]]:
        """The weights of a sampling pass swapped in for the duration; yields the modules a forward
        pass then runs (every module but the idle adapters' own layers).

        Under LoRA each adapted layer's weight becomes ``W + ΔW`` (one matmul per layer and token
        instead of three). With ``dtype`` other than the weights' own, every weight becomes a
        copy in ``dtype``, made once per call: a bf16 copy halves the bytes each decoding step
        reads, and is made from the fp32 ``W + ΔW``, so it is rounded once. The trained weights
        stay bitwise unchanged (swapped back afterwards, unlike merging in place and
        subtracting). The copies live in buffers kept from one call to the next.
        """
        layers = {id(m.base_layer.weight): m for m in self._lora_layers()}
        adapters = [m for layer in layers.values() for part in (layer.lora_A, layer.lora_B) for m in part.values()]
        adapter_params = {id(p) for m in adapters for p in m.parameters()}
        params = [
            p
            for p in self.model.parameters()
            if id(p) not in adapter_params and (id(p) in layers or (dtype is not None and p.dtype != dtype))
        ]
        if self._sampling_buffers[0] != dtype or len(self._sampling_buffers[1]) != len(params):
            self._sampling_buffers = (dtype, [])  # the old set is freed before the new one is allocated
            self._sampling_buffers = (dtype, [torch.empty_like(p, dtype=dtype) for p in params])
        buffers = self._sampling_buffers[1]
        originals = []
        with torch.no_grad():
            for p, buffer in zip(params, buffers):
                layer = layers.get(id(p))
                if layer is None:
                    buffer.copy_(p)
                else:
                    delta = sum(layer.get_delta_weight(name) for name in layer.active_adapters)
                    if buffer.dtype == p.dtype:
                        torch.add(p, delta, out=buffer)
                    else:
                        buffer.copy_(p + delta)
                originals.append(p.data)
                p.data = buffer
        try:
            with self.model.disable_adapter() if self.lora else contextlib.nullcontext():
                idle = {id(m) for m in adapters}
                yield [m for m in self.model.modules() if id(m) not in idle]
        finally:
            for p, original in zip(params, originals):
                p.data = original

    def _lora_layers(self) -> list[torch.nn.Module]:
        if not self.lora:
            return []
        from peft.tuners.lora import Linear as LoraLinear

        return [m for m in self.model.modules() if isinstance(m, LoraLinear)]

    @contextlib.contextmanager
    def reference(self) -> Iterator[torch.nn.Module]:
        """The reference model: adapters disabled (LoRA) or the frozen copy (full fine-tune)."""
        if self._frozen_reference is not None:
            yield self._frozen_reference
        elif self.lora:
            with self.model.disable_adapter():
                yield self.model
        else:
            raise RuntimeError("full fine-tuning without a frozen reference: build Policy with needs_reference=True")

    def encode(self, prompts: list[str], responses: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokenise given (prompt, response) pairs in the layout of a sampled rollout.

        The prompt is chat-formatted and left-padded exactly as the sampler does it, the
        response is right-padded and ends with EOS, so offline (DPO) and online training
        score the same token sequences. Returns input_ids ``[n, P+T]``, attention_mask
        ``[n, P+T]`` and response_mask ``[n, T]``.
        """
        tok = self.tokenizer
        prompt = tok(
            self.format_prompts(prompts),
            return_tensors="pt",
            padding=True,
            add_special_tokens=not self.use_chat_template,
        )
        tok.padding_side = "right"
        try:
            response = tok(
                [r + tok.eos_token for r in responses], return_tensors="pt", padding=True, add_special_tokens=False
            )
        finally:
            tok.padding_side = "left"
        input_ids = torch.cat([prompt.input_ids, response.input_ids], dim=1).to(self.device)
        attention_mask = torch.cat([prompt.attention_mask, response.attention_mask], dim=1).to(self.device)
        return input_ids, attention_mask, response.attention_mask.to(self.device)

    def response_forward(
        self,
        model: torch.nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_len: int,
        with_entropy: bool = False,
        with_hidden: bool = False,
        group_size: int = 1,
        temperature: float = 1.0,
    ) -> Forward:
        """Log-probs ``[n, T]`` of the last ``T = response_len`` tokens of ``input_ids``.

        Position ids follow the attention mask so left padding does not shift them.
        ``group_size = G > 1`` says rows come in contiguous groups of G that share one
        prompt (a GRPO rollout): the prompt is then run once per group and its KV cache
        repeated G times, which is exact under causal attention and saves about
        (1 - 1/G) of the prompt's share of the compute, in the forward and the backward.
        ``with_hidden`` also returns last hidden states ``[n, >=T+1, H]`` ending at the
        last token (for a value head). ``temperature`` divides the logits first: the
        sampler's, so the log-probs are those of the distribution the tokens came from.
        """
        T = response_len
        tokens = input_ids[:, -T:]
        with self.autocast():
            if group_size > 1:
                first, rest, hidden = self._shared_prefix_logits(
                    model, input_ids, attention_mask, T, with_hidden, group_size
                )
                # Scored in two parts rather than concatenated: no [n, T, V] copy.
                lp_first, ent_first = token_logprobs(first, tokens[:, :1], temperature)
                lp_rest, ent_rest = token_logprobs(rest, tokens[:, 1:], temperature)
                logprobs, entropy = torch.cat([lp_first, lp_rest], dim=1), torch.cat([ent_first, ent_rest], dim=1)
            else:
                out = model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    position_ids=(attention_mask.cumsum(-1) - 1).clamp(min=0),
                    logits_to_keep=T + 1,  # only the logits that predict response tokens
                    output_hidden_states=with_hidden,
                )
                # [n, T, V]: position i predicts token i+1. Sliced explicitly, so a model that
                # ignores logits_to_keep and returns every position gives the same result.
                logprobs, entropy = token_logprobs(out.logits[:, -T - 1 : -1], tokens, temperature)
                hidden = out.hidden_states[-1] if with_hidden else None
        # token_logprobs computes in fp32 whatever the autocast dtype.
        return Forward(logprobs, entropy if with_entropy else None, hidden)

    def _shared_prefix_logits(
        self,
        model: torch.nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        T: int,
        with_hidden: bool,
        G: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Logits predicting the response tokens, the prompt run once per group.

        Returns the logits of the first response token ``[n, 1, V]`` (from the prompt's
        last position), those of the others ``[n, T-1, V]`` and, with ``with_hidden``,
        last hidden states ``[n, T+1, H]``.
        """
        P = input_ids.shape[1] - T
        prompt_ids, prompt_mask = input_ids[::G, :P], attention_mask[::G, :P]  # [n/G, P]
        prefix = model(
            input_ids=prompt_ids,
            attention_mask=prompt_mask,
            position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
            use_cache=True,
            logits_to_keep=1,  # the last prompt position predicts the first response token
            output_hidden_states=with_hidden,
        )
        cache = prefix.cache
        cache.batch_repeat_interleave(G)  # [n/G, ...] -> [n, ...]; gradients flow back through it
        start = prompt_mask.sum(-1, keepdim=True).repeat_interleave(G, dim=0)  # [n, 1] real prompt tokens
        # The last response token predicts nothing that is scored: it is run only when
        # its hidden state is wanted (a value head), or when it is the only one.
        R = T if with_hidden or T == 1 else T - 1
        out = model(
            input_ids=input_ids[:, P : P + R],
            attention_mask=attention_mask[:, : P + R],
            position_ids=start + torch.arange(R, device=input_ids.device),
            cache=cache,
            use_cache=True,
            output_hidden_states=with_hidden,
        )
        first = prefix.logits[:, -1:].repeat_interleave(G, dim=0)  # [n, 1, V]
        hidden = None
        if with_hidden:
            last_prompt = prefix.hidden_states[-1][:, -1:].repeat_interleave(G, dim=0)  # [n, 1, H]
            hidden = torch.cat([last_prompt, out.hidden_states[-1]], dim=1)  # [n, T+1, H]
        return first, out.logits[:, : T - 1], hidden
