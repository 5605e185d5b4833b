"""What this machine can do for inference: CPU model, cores, the instruction-set flags that decide
which convolution kernels run fast, torch's thread count and the GPU, read from the system (never
assumed: the project's CPUs change from week to week). Every benchmark table prints `host_line()`,
and `wbslib.enhance.engines.auto_runtime` decides from these facts.
"""

from __future__ import annotations

import os
import platform
from functools import cache

import torch

# flag name in /proc/cpuinfo → the name printed
ISA_FLAGS = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512_vnni": "AVX-512-VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512-BF16",
    "amx_tile": "AMX",
    "amx_bf16": "AMX-BF16",
}


@cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) from /proc/cpuinfo; ('unknown', ∅) where it cannot be read."""
    model, flags = platform.processor() or "unknown", frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model in ("unknown", "", platform.processor()):
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = frozenset(value.split())
    except OSError:
        pass
    return model, flags


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def host_facts() -> dict:
    """cpu (model name), cores, isa (tuple of `ISA_FLAGS` names present), torch_threads,
    torch_cpu_capability (the kernel set torch dispatches to, e.g. 'AVX2', 'AVX512'), gpu (name or None)."""
    model, flags = _cpuinfo()
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "unknown")()
    return {
        "cpu": model,
        "cores": usable_cores(),
        "isa": tuple(name for flag, name in ISA_FLAGS.items() if flag in flags),
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": str(capability),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def host_line(facts: dict | None = None) -> str:
    """One line for a benchmark table, e.g. 'AMD EPYC · 2 cores · AVX2 FMA · torch 2 threads (AVX2) · no GPU'."""
    f = facts or host_facts()
    isa = " ".join(f["isa"]) or "no AVX2"
    gpu = f["gpu"] or "no GPU"
    torch_part = f"torch {f['torch_threads']} threads ({f['torch_cpu_capability']})"
    return f"{f['cpu']} · {f['cores']} cores · {isa} · {torch_part} · {gpu}"
