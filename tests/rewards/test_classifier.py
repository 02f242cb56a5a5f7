"""reward=bias_rm: the hub code path, a tiny RoBERTa saved to a local folder, batching and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import RobertaConfig, RobertaForSequenceClassification, RobertaTokenizerFast

from biasgrpo.config import RewardConfig, validate
from biasgrpo.errors import ModelLoadError, RewardError
from biasgrpo.models import tiny_tokenizer
from biasgrpo.rewards import build_reward, classifier
from biasgrpo.rewards.classifier import HUB_ID, ClassifierReward
from tests.conftest import compose_config

TEXTS = ["People of every faith live here.", "", "They are all lazy.", "A much longer answer " * 8]


def roberta_tokenizer() -> RobertaTokenizerFast:
    """A byte-level BPE with RoBERTa's special tokens and no merges: one token per byte."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    names = ("bos", "cls"), ("eos", "sep"), ("pad",), ("unk",), ("mask",)
    tokens = {f"{n}_token": t for group, t in zip(names, ["<s>", "</s>", "<pad>", "<unk>", "<mask>"]) for n in group}
    return RobertaTokenizerFast(tokenizer_object=backend, **tokens)


def save_tiny_roberta(folder: Path, num_labels: int = 1) -> Path:
    tokenizer = roberta_tokenizer()
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=300,
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    RobertaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_roberta(tmp_path_factory.mktemp("bias-reward-model"))


def bias_rm(path: str, **kw: object) -> ClassifierReward:
    return build_reward(RewardConfig(name="bias_rm", kind="bias_rm", path=path, device="cpu", **kw))


def test_scores_are_the_regression_head_on_the_completion(roberta_dir: Path) -> None:
    reward = bias_rm(str(roberta_dir))
    scores = reward.score(["prompt"] * len(TEXTS), TEXTS)
    assert scores.shape == (len(TEXTS),) and scores.dtype == torch.float32 and not scores.requires_grad
    tok = reward.tokenizer
    enc = tok([t or tok.eos_token for t in TEXTS], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = reward.model(**enc).logits[:, 0]
    torch.testing.assert_close(scores, expected)  # raw output: a regressor, not squashed
    assert not any(p.requires_grad for p in reward.model.parameters())


def test_batches_and_order_do_not_change_scores(roberta_dir: Path) -> None:
    one = bias_rm(str(roberta_dir), batch_size=1).score([""] * len(TEXTS), TEXTS)
    many = bias_rm(str(roberta_dir), batch_size=3).score([""] * len(TEXTS), TEXTS)
    torch.testing.assert_close(one, many, atol=1e-5, rtol=1e-5)
    flipped = bias_rm(str(roberta_dir)).score([""] * len(TEXTS), TEXTS[::-1])
    torch.testing.assert_close(flipped, many.flip(0), atol=1e-5, rtol=1e-5)


def test_prompt_completion_input(roberta_dir: Path) -> None:
    reward = bias_rm(str(roberta_dir), input_format="prompt_completion")
    ids = reward.encode(["p"], ["c"]).input_ids[0].tolist()
    tok = reward.tokenizer
    p, c = tok.convert_tokens_to_ids(["p", "c"])
    assert ids == [tok.cls_token_id, p, tok.sep_token_id, tok.sep_token_id, c, tok.sep_token_id]
    scores = reward.score(["Tell me about nurses.", "Tell me about pilots."], ["Nurses care.", "Nurses care."])
    assert scores[0] != scores[1]  # the prompt is read
    # A tokenizer without a separator (decoders) gets the two texts joined by a blank line.
    decoder = ClassifierReward("rm", reward.model, tiny_tokenizer(), "prompt_completion", 64, 8, None)
    assert decoder.tokenizer.decode(decoder.encode(["p"], ["c"]).input_ids[0]) == "p\n\nc"


def test_default_is_the_papers_hub_model() -> None:
    conf = validate(compose_config(["reward=bias_rm"]))
    assert conf.reward.path == HUB_ID == "SaketR1/bias-reward-model"
    assert conf.reward.input_format == "completion"


def test_hub_id_without_network_names_both_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def offline(source: str, **kw: object) -> None:
        asked.append(source)
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(classifier.AutoTokenizer, "from_pretrained", offline)
    with pytest.raises(ModelLoadError) as info:
        bias_rm(HUB_ID)
    assert asked == [HUB_ID]  # the real hub call, not a stub
    message = str(info.value)
    assert "reward.path=" in message and "network" in message and HUB_ID in message


def test_missing_local_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="is not a folder"):
        bias_rm(str(tmp_path / "not-downloaded"))


def test_classifier_with_several_outputs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="num_labels=1"):
        bias_rm(str(save_tiny_roberta(tmp_path / "two-labels", num_labels=2)))


def test_nan_score_is_an_error_naming_the_text(roberta_dir: Path) -> None:
    reward = bias_rm(str(roberta_dir))
    with torch.no_grad():
        reward.model.classifier.out_proj.bias.fill_(float("nan"))
    with pytest.raises(RewardError, match="People of every faith"):
        reward.score([""] * len(TEXTS), TEXTS)
