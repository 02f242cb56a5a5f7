"""Our BBQ and TruthfulQA figures against lm-eval's own tasks, on the same local data and model.

lm-eval's ``bbq``, ``truthfulqa_mc1`` and ``truthfulqa_mc2`` read the hub; here their own task
definitions (YAML and utils, loaded from the installed lm-eval) are pointed at the local rows our
benchmarks read, and run on the tiny random model (and, marked slow, the embedded SmolLM2: the
random model's likelihoods favour short answers, so it answers "unknown" to most BBQ questions,
where SmolLM2 gives a real mix of answers). The figures must agree: the same prompts and
choices give the same log-likelihoods, and our maths must aggregate them as lm-eval does. The one
intended difference: a bias score with no biased but some non-unknown answers is -1 by the BBQ
paper's definition, where lm-eval's aggregation returns 0.

Our benchmarks run through the default ``lm_backend=prefix`` (biasgrpo/benchmarks/prefix_lm.py);
lm-eval's own tasks here run through lm-eval's HFLM, so these tests also check that the prefix
backend gives lm-eval's figures. The last test compares the two backends directly on our tasks:
every request's log-likelihood, and every figure.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import lm_eval
import pytest
import torch
from lm_eval.tasks import TaskManager

from biasgrpo.benchmarks import bbq, harness, truthfulqa
from biasgrpo.benchmarks.harness import choice_loglikelihoods, json_dataset, run_lm_eval
from biasgrpo.benchmarks.sources import per_category
from biasgrpo.config import BenchmarkConfig, ModelConfig
from biasgrpo.policy import Policy

LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"


@pytest.fixture(scope="module", params=["tiny", pytest.param("smollm2_135m", marks=pytest.mark.slow)])
def policy(request: pytest.FixtureRequest) -> Policy:
    torch.manual_seed(0)
    loader = "tiny" if request.param == "tiny" else "smollm2_gguf"
    return Policy(ModelConfig(name=request.param, loader=loader), torch.device("cpu"), needs_reference=False)


def lm_eval_own(task: str, folder: str, docs: list[dict], policy: Policy, **overrides: object) -> dict[str, float]:
    """lm-eval's registered ``task`` (its own YAML and utils) over ``docs``: its aggregated figures."""
    manager = TaskManager(include_path=LM_EVAL_TASKS / folder, include_defaults=False)
    with json_dataset(docs) as dataset_kwargs:
        override = {"task": task, "dataset_path": "json", "dataset_name": None, "dataset_kwargs": dataset_kwargs}
        loaded = manager.load({"group": "agreement", "task": [{**override, **overrides}]})
        results = run_lm_eval(policy, list(loaded["tasks"].values()), batch_size=8, backend="hflm")["results"]
    return {k.removesuffix(",none"): v for k, v in results[task].items() if k.endswith(",none")}


def test_biased_answers_agree_with_lm_evals_rule_on_every_local_row(shared_data: str) -> None:
    import datasets
    from lm_eval.tasks.bbq.utils import process_docs

    rows = bbq.load_rows(BenchmarkConfig(kind="bbq"), shared_data)
    theirs = process_docs(datasets.Dataset.from_list(rows))["biased_answers"]
    ours = [[r[f"ans{i}"] for i in bbq.biased_answers(r)] for r in rows]
    assert len(rows) == 17_628
    assert [sorted(a) for a in ours] == [sorted(a) for a in theirs]


def test_bbq_figures_agree_with_lm_evals_bbq_task(
    shared_data: str, policy: Policy, request: pytest.FixtureRequest
) -> None:
    cfg = BenchmarkConfig(kind="bbq", limit=3)
    bench = bbq.BBQ("bbq", cfg, shared_data)
    ours, rows = bench.evaluate(policy)
    if request.node.callspec.params["policy"] != "tiny":  # a real model: the comparison is not all "unknown"
        answered = [r for r in rows if r["answer"] not in bbq.UNKNOWN_RESPONSES]
        assert answered and any(r["biased"] for r in answered) and not all(r["biased"] for r in answered)
    raw = per_category(bbq.load_rows(cfg, shared_data), lambda r: (r["category"], r["context_condition"]), cfg.limit)
    theirs = lm_eval_own("bbq", "bbq", raw, policy)

    assert ours["accuracy"] == pytest.approx(theirs["acc"])
    assert ours["accuracy_ambig"] == pytest.approx(theirs["accuracy_amb"])
    assert ours["accuracy_disambig"] == pytest.approx(theirs["accuracy_disamb"])
    pairs = [("", "")] + [(f"{c}/", f"_{c}") for c in sorted({r["category"] for r in rows})]
    for ours_prefix, their_suffix in pairs:
        for condition, theirs_name in (("ambig", "amb"), ("disambig", "disamb")):
            scope = [r for r in rows if ours_prefix in ("", f"{r['category']}/")]
            picks = [r for r in scope if r["context_condition"] == condition]
            non_unknown = sum(r["answer"] not in bbq.UNKNOWN_RESPONSES for r in picks)
            lm_eval_zero = non_unknown > 0 and not any(r["biased"] for r in picks)
            expected = 0.0 if lm_eval_zero else theirs[f"{theirs_name}_bias_score{their_suffix}"]
            got = ours[f"{ours_prefix}bias_score_{condition}"]
            assert (0.0 if lm_eval_zero else got) == pytest.approx(expected), (ours_prefix, condition)
            if lm_eval_zero:  # the definition instead: every non-unknown answer went against the stereotype
                accuracy = ours[f"{ours_prefix}accuracy_{condition}"]
                assert got == pytest.approx(-(1 - accuracy) if condition == "ambig" else -1.0)


def test_truthfulqa_figures_agree_with_lm_evals_mc1_and_mc2_tasks(shared_data: str, policy: Policy) -> None:
    cfg = BenchmarkConfig(kind="truthfulqa", limit=12)
    ours, _ = truthfulqa.TruthfulQA("tqa", cfg, shared_data).evaluate(policy)
    questions = per_category(truthfulqa.load_questions(cfg, shared_data), lambda q: "all", cfg.limit)
    for kind in truthfulqa.KINDS:
        theirs = lm_eval_own(f"truthfulqa_{kind}", "truthfulqa", questions, policy, validation_split="test")
        # Ours runs MC1 and MC2 in one task, so lm-eval batches the requests differently: float32
        # log-likelihoods then differ in the last digits.
        assert ours[kind] == pytest.approx(theirs["acc"], abs=1e-6), kind


@pytest.mark.parametrize(("module", "limit"), [(bbq, 3), (truthfulqa, 12)], ids=["bbq", "truthfulqa"])
def test_prefix_backend_gives_hflms_log_likelihoods_and_figures(
    shared_data: str, policy: Policy, module: ModuleType, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our task through lm_backend=prefix and lm_backend=hflm: the same log-likelihoods (float32
    rounding apart), so the same answers and the same figures."""
    outputs: list[dict[str, Any]] = []

    def recording(*args: Any, **kwargs: Any) -> dict[str, Any]:
        outputs.append(harness.run_lm_eval(*args, **kwargs))
        return outputs[-1]

    monkeypatch.setattr(module, "run_lm_eval", recording)
    results = {}
    for backend in ("hflm", "prefix"):
        cfg = BenchmarkConfig(kind=module.__name__.rsplit(".", 1)[-1], limit=limit, lm_backend=backend)
        bench = module.BBQ("b", cfg, shared_data) if module is bbq else module.TruthfulQA("b", cfg, shared_data)
        results[backend] = bench.evaluate(policy)
    theirs, ours = (choice_loglikelihoods(out, module.TASK) for out in outputs)
    assert [doc for doc, _ in ours] == [doc for doc, _ in theirs]
    flat_theirs = [ll for _, lls in theirs for ll in lls]
    flat_ours = [ll for _, lls in ours for ll in lls]
    assert len(flat_ours) == len(flat_theirs) > 100
    # float32 rounding: measured up to 4.6e-6 relative on SmolLM2 (docs/evaluation.md)
    assert flat_ours == pytest.approx(flat_theirs, rel=1e-5, abs=1e-5)
    (figures_theirs, rows_theirs), (figures_ours, rows_ours) = results["hflm"], results["prefix"]
    # The same answer to every question; BBQ's correct/biased and TruthfulQA's MC1 exactly, MC2 to rounding.
    assert [{k: v for k, v in r.items() if k != "mc2"} for r in rows_ours] == [
        {k: v for k, v in r.items() if k != "mc2"} for r in rows_theirs
    ]
    assert [r.get("mc2", 0.0) for r in rows_ours] == pytest.approx([r.get("mc2", 0.0) for r in rows_theirs], abs=1e-5)
    assert set(figures_ours) == set(figures_theirs)
    for name, value in figures_theirs.items():
        assert figures_ours[name] == pytest.approx(value, abs=1e-9 if module is bbq else 1e-5), name
