"""The paper's RM check: its maths by hand, both input formats on a tiny local stand-in, a loud offline failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from biasgrpo.config import RewardTrainingConfig
from biasgrpo.rewards.agreement import agreement, main, verdict
from biasgrpo.rewards.preference import spearman
from biasgrpo.rewards.training import load_backbone


def by_length(prompts: list[str], completions: list[str]) -> torch.Tensor:
    return torch.tensor([float(len(c)) for c in completions])


def test_agreement_by_hand() -> None:
    # favourable lengths 5, 2, 4; unfavourable 1, 3, 4: rows 1 win, 2 lose, 3 tie -> (1 + 0 + 0.5) / 3.
    fav, unfav = ["aaaaa", "bb", "cccc"], ["d", "eee", "ffff"]
    r = agreement(["p"] * 3, fav, unfav, by_length)
    assert r["pairwise_accuracy"] == pytest.approx(0.5)
    # Scores 5 2 4 1 3 4 -> ranks 6 2 4.5 1 3 4.5; labels 1 1 1 0 0 0 -> ranks 5 5 5 2 2 2.
    # Centred (3.5): score ranks 2.5 -1.5 1 -2.5 -0.5 1, labels 1.5 x3, -1.5 x3.
    # Σ products = 1.5 * (2.5 - 1.5 + 1 + 2.5 + 0.5 - 1) = 6; Σ x² = 6.25+2.25+1+6.25+.25+1 = 17; Σ y² = 13.5.
    assert r["spearman"] == pytest.approx(6 / (17 * 13.5) ** 0.5)
    assert r["mean_favourable"] == pytest.approx(11 / 3) and r["rows"] == 3


def test_spearman_of_a_monotone_map_is_one_and_of_its_reverse_minus_one() -> None:
    x = torch.tensor([0.3, 1.0, -2.0, 5.0])
    assert float(spearman(x, x.exp())) == pytest.approx(1.0)
    assert float(spearman(x, -x)) == pytest.approx(-1.0)


def test_verdict_names_the_format_and_the_direction() -> None:
    results = {"completion": {"pairwise_accuracy": 0.55}, "prompt_completion": {"pairwise_accuracy": 0.2}}
    assert "input_format=prompt_completion" in verdict(results) and "flip" in verdict(results)
    results["prompt_completion"]["pairwise_accuracy"] = 0.9
    assert "higher = favourable" in verdict(results)


def test_both_formats_on_a_tiny_local_stand_in(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    model, tokenizer = load_backbone(RewardTrainingConfig(backbone="tiny", keep_layers=1))
    model.save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    rows = [
        {
            "prompt": f"q{i}",
            "category": "age",
            "favorable_completion": " ".join(["kind"] * i),
            "unfavorable_completion": "x" * i,
        }
        for i in range(1, 7)
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = main(["--path", str(tmp_path / "rm"), "--data", str(tmp_path / "data.jsonl"), "--device", "cpu"])
    assert set(results) == {"completion", "prompt_completion"}
    # Recompute the completion-format figures from the model's own head outputs.
    model.eval()
    tokenizer.padding_side, tokenizer.truncation_side = "right", "left"
    with torch.no_grad():
        fav = model(**tokenizer([r["favorable_completion"] for r in rows], return_tensors="pt", padding=True))
        unfav = model(**tokenizer([r["unfavorable_completion"] for r in rows], return_tensors="pt", padding=True))
    f, u = fav.logits[:, 0], unfav.logits[:, 0]
    expected = ((f > u).float() + 0.5 * (f == u).float()).mean()
    assert results["completion"]["pairwise_accuracy"] == pytest.approx(float(expected))
    assert results["completion"]["rows"] == 6
    assert "use reward.input_format=" in capsys.readouterr().out


def test_without_the_hub_it_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SystemExit) as stop:
        main(["--data", str(tmp_path / "missing"), "--path", str(tmp_path / "missing_rm")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "could not run here" in err and "network" in err
