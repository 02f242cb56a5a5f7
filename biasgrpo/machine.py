"""Where a timing was taken: the CPU, the instruction sets that change which kernels run (AVX-512,
avx512_bf16, AMX), the cores this process may use, torch's build (MKL, oneDNN) and its threads.

CPU timings of the same code differ by up to about 1.7x between machines of one cloud kind with
and without AMX (issue 20), so every figure that names a speed names the machine with it.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")  # environment variables that cap the kernels' ISA


def _cpuinfo() -> str:
    return Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""


def cpu_flags() -> set[str]:
    """The CPU's instruction-set flags as Linux reports them (empty elsewhere)."""
    found = re.search(r"^flags\s*:\s*(.+)$", _cpuinfo(), re.M)
    return set(found.group(1).split()) if found else set()


def native_bf16() -> bool:
    """Whether the CPU multiplies bf16 natively (avx512_bf16 or AMX), which makes bf16 weights
    faster than fp32 ones for sampling (docs/performance.md)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def describe() -> dict[str, Any]:
    """A JSON-friendly description of this machine and torch build."""
    import torch

    model = re.search(r"^model name\s*:\s*(.+)$", _cpuinfo(), re.M)
    flags = cpu_flags()
    build = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([\w.\-]+)", build)
    onednn = re.search(r"MKL-DNN v([\w.]+)", build)
    description = {
        "cpu": model.group(1).strip() if model else platform.processor() or platform.machine(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "isa": [f for f in ISA_FLAGS if f in flags],
        "torch": torch.__version__,
        "mkl": mkl.group(1) if mkl else None,
        "onednn": onednn.group(1) if onednn else None,
        "torch_threads": torch.get_num_threads(),
        # An emulation of a lesser CPU (e.g. no AMX) caps the libraries' kernels, not /proc/cpuinfo.
        "isa_caps": {k: os.environ[k] for k in ISA_CAPS if k in os.environ},
    }
    if torch.cuda.is_available():
        description["gpu"] = torch.cuda.get_device_name(0)
    return description


def summary_line(d: dict[str, Any]) -> str:
    """One line for a benchmark's printout: ``machine: <cpu>, 2 cores, AVX-512 +bf16 +AMX, ...``."""
    isa = set(d["isa"])
    vector = "AVX-512" if "avx512f" in isa else "AVX2" if "avx2" in isa else "no AVX2"
    extras = [name for flag, name in (("avx512_bf16", "+bf16"), ("amx_tile", "+AMX")) if flag in isa]
    no_amx = "" if "amx_tile" in isa else " (no AMX)"
    libs = ", ".join(f"{k} {d[k]}" for k in ("mkl", "onednn") if d.get(k))
    gpu = f", GPU {d['gpu']}" if d.get("gpu") else ""
    caps = d.get("isa_caps") or {}
    capped = " (kernels capped: " + ", ".join(f"{k}={v}" for k, v in caps.items()) + ")" if caps else ""
    return (
        f"machine: {d['cpu']}, {d['cores_usable']} cores, {' '.join([vector, *extras])}{no_amx}{capped}; "
        f"torch {d['torch']} ({libs}), {d['torch_threads']} threads{gpu}"
    )
