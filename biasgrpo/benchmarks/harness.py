"""Multiple-choice log-likelihoods through lm-eval, with the policy's model held in memory.

The task YAMLs in ``lm_eval_tasks/`` are plain lm-eval task configs that read a ``json`` dataset.
The benchmark writes the documents it chose (from the local copy or the hub, after its limit)
to a temporary file and passes that file as ``dataset_kwargs``, so one YAML serves both sources.
lm-eval builds the requests (prompt, choice continuations) and runs the model; the benchmark
computes its figures from the per-choice log-likelihoods it returns. The model runs through
``benchmark.<name>.lm_backend``: ``prefix`` (default, biasgrpo/benchmarks/prefix_lm.py:
each distinct context once, every choice from its KV cache) or ``hflm`` (lm-eval's own HFLM, one
forward pass per choice). Both give the same log-likelihoods up to float rounding.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from biasgrpo.policy import Policy

TASK_DIR = Path(__file__).parent / "lm_eval_tasks"


@contextlib.contextmanager
def json_dataset(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``dataset_kwargs`` of a ``json`` dataset holding ``docs`` as its test split (deleted on exit)."""
    with tempfile.TemporaryDirectory(prefix="biasgrpo-lm-eval-") as tmp:
        path = Path(tmp) / "docs.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        # The datasets cache goes in the same folder: nothing is left behind in ~/.cache.
        yield {"data_files": {"test": str(path)}, "cache_dir": str(Path(tmp) / "cache")}


def load_task(name: str, dataset_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The task config ``lm_eval_tasks/<name>.yaml`` reading the given ``json`` dataset."""
    config = yaml.safe_load((TASK_DIR / f"{name}.yaml").read_text())
    return {**config, "dataset_kwargs": dataset_kwargs}


def lm_backend(name: str) -> type:
    """The lm-eval model class of ``lm_backend`` ``name`` (both take HFLM's constructor arguments)."""
    from lm_eval.models.huggingface import HFLM

    from biasgrpo.benchmarks.prefix_lm import PrefixLM

    return {"prefix": PrefixLM, "hflm": HFLM}[name]


def run_lm_eval(
    policy: Policy, tasks: list[dict[str, Any]], batch_size: int, backend: str = "prefix"
) -> dict[str, Any]:
    """``lm_eval.simple_evaluate`` on inline task configs with the policy's model (LoRA included).

    Returns lm-eval's output: ``results`` (its aggregated metrics) and ``samples`` (per document).
    The global RNGs are left alone: log-likelihoods need no randomness, and a training run that
    evaluates midway must not have its sampling reseeded.
    """
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    model = lm_backend(backend)(pretrained=policy.model, tokenizer=policy.tokenizer, batch_size=batch_size)
    return simple_evaluate(
        model=model,
        tasks=tasks,
        task_manager=TaskManager(include_defaults=False),
        bootstrap_iters=0,
        log_samples=True,
        random_seed=None,
        numpy_random_seed=None,
        torch_random_seed=None,
        fewshot_random_seed=None,
    )


def choice_loglikelihoods(output: dict[str, Any], task: str) -> list[tuple[dict[str, Any], list[float]]]:
    """(document, log-likelihood of each choice) for every document of ``task``, in document order."""
    samples = sorted(output["samples"][task], key=lambda s: s["doc_id"])
    return [(s["doc"], [float(ll) for ll, _ in s["filtered_resps"]]) for s in samples]
