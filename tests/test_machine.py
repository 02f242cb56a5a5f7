"""The machine description printed with every timing."""

from __future__ import annotations

import json

from biasgrpo.machine import describe, summary_line


def test_describe_names_the_cpu_and_is_json() -> None:
    d = describe()
    assert d["cores_usable"] >= 1 and d["torch_threads"] >= 1 and d["torch"]
    assert json.loads(json.dumps(d)) == d


def test_summary_line_by_hand() -> None:
    d = {"cpu": "Xeon", "cores_usable": 2, "isa": ["avx2", "avx512f", "avx512_bf16"], "torch": "2.13.0"}
    d |= {"mkl": "2024.2", "onednn": "3.12.0", "torch_threads": 2}
    assert summary_line(d) == (
        "machine: Xeon, 2 cores, AVX-512 +bf16 (no AMX); torch 2.13.0 (mkl 2024.2, onednn 3.12.0), 2 threads"
    )
    assert "+AMX" in summary_line({**d, "isa": [*d["isa"], "amx_tile"]})
