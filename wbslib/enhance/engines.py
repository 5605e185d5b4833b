"""Which runtime executes the generator: eager torch, channels-last torch, torch.compile, ONNX Runtime
or OpenVINO — all fp32 and exact to ≈ 1e-6 of eager (benchmarks/README.md has the table).

An `Engine` is the model behind one call, `engine(x)`: x (n, 1, rows, cols) float32 tensor in model
scale → float32 numpy (n, 1, rows, cols). The torch runtimes run under `torch.inference_mode` (and
autocast when `wbslib.enhance.runtime.choose_precision` picked a reduced precision, which only the
torch runtimes support); ONNX Runtime and OpenVINO run a graph exported once per model (dynamic rows
and columns, ONNX opset 17) with as many threads as torch has.

'auto' (`auto_runtime`) is decided from the host's facts (`wbslib.enhance.hostinfo`) and what is
installed, following the measured table: on a CUDA device, channels-last torch; on a CPU with AMX,
channels-last torch (bf16 autocast is faster there); otherwise ONNX Runtime when installed
(`pip install .[cpu-fast]`, never required), else channels-last torch where `runtime.memory_format`
picks that layout (models at least `CHANNELS_LAST_MIN_NF` wide), else eager. OpenVINO (same extra)
is as fast as ONNX Runtime within a few per cent here but is never picked by 'auto': in a process
that has forked DataLoader workers
before, it crashed the interpreter (SIGSEGV, OpenVINO 2026.4 on this project's test suite), so it
runs only when asked for. torch.compile is offered for measurement only: its first call per shape
compiles for minutes on 2 cores.
A runtime asked for but not installed falls back to the torch default with a one-line notice.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import weakref
from pathlib import Path

import numpy as np
import torch

from wbslib.core.errors import ParamsError
from wbslib.enhance.hostinfo import host_facts
from wbslib.enhance.runtime import forward, memory_format

RUNTIMES = ("auto", "eager", "channels_last", "compile", "onnxruntime", "openvino")
OPTIONAL = ("onnxruntime", "openvino")  # the extra `cpu-fast`
AUTO_OPTIONAL = ("onnxruntime",)  # what 'auto' may pick among them (module doc)
ONNX_OPSET = 17
_graphs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_noticed: set[str] = set()


def installed(runtime: str) -> bool:
    """True if the runtime's package can be imported (the torch runtimes always can)."""
    return runtime not in OPTIONAL or importlib.util.find_spec(runtime) is not None


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ParamsError(f"runtime {runtime!r} is not one of {RUNTIMES}; use 'auto'.")
    return runtime


def torch_default(device: str, arch_kwargs: dict) -> str:
    """channels_last where `runtime.memory_format` chooses it (CUDA, wide models on CPU), else eager."""
    return "channels_last" if memory_format(device, arch_kwargs) == torch.channels_last else "eager"


def auto_runtime(device: str, arch_kwargs: dict, facts: dict | None = None) -> str:
    """The runtime 'auto' means on this host (module doc)."""
    if device.startswith("cuda"):
        return "channels_last"
    isa = (facts or host_facts())["isa"]
    if "AMX" in isa:
        return torch_default(device, arch_kwargs)
    for name in AUTO_OPTIONAL:
        if installed(name):
            return name
    return torch_default(device, arch_kwargs)


def resolve_runtime(runtime: str, device: str, arch_kwargs: dict, dtype: torch.dtype | None = None) -> str:
    """The runtime that will run: 'auto' resolved; an optional one not installed (or asked for on
    CUDA, or with a reduced precision) replaced by the torch default, with a one-line notice."""
    check_runtime(runtime)
    name = auto_runtime(device, arch_kwargs) if runtime == "auto" else runtime
    if name in OPTIONAL and (device.startswith("cuda") or dtype is not None or not installed(name)):
        fallback = torch_default(device, arch_kwargs)
        why = "is not installed (pip install .[cpu-fast])" if not installed(name) else "runs fp32 on CPU only"
        if name not in _noticed:
            print(f"wbs-accel: runtime {name} {why}; using {fallback}.", file=sys.stderr)
            _noticed.add(name)
        name = fallback
    return name


def _onnx_file(model: torch.nn.Module, folder: Path) -> Path:
    """Export the model (fp32, contiguous, CPU copy) to ONNX with dynamic rows and columns."""
    path = folder / "generator.onnx"
    probe = torch.zeros(1, 1, 64, 64)
    cpu_model = model.to("cpu", memory_format=torch.contiguous_format).eval()
    torch.onnx.export(
        cpu_model,
        probe,
        str(path),
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "n", 2: "rows", 3: "cols"}, "y": {0: "n", 2: "rows", 3: "cols"}},
        opset_version=ONNX_OPSET,
        dynamo=False,
    )
    return path


def _graph_runner(model: torch.nn.Module, runtime: str):
    """A numpy → numpy callable running the model's exported graph in ONNX Runtime or OpenVINO
    (built once per model and runtime)."""
    cached = _graphs.setdefault(model, {})
    if runtime in cached:
        return cached[runtime]
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="wbs-onnx-") as folder:
        path = _onnx_file(model, Path(folder))
        if runtime == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            runner = lambda x: session.run(None, {"x": x})[0]  # noqa: E731
        else:
            import openvino as ov

            core = ov.Core()
            compiled = core.compile_model(
                core.read_model(str(path)),
                "CPU",
                {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
            )
            runner = lambda x: compiled(x)[0]  # noqa: E731
    cached[runtime] = runner
    return runner


class Engine:
    """The model run by one runtime (module doc); `name` is the runtime actually used."""

    def __init__(self, model: torch.nn.Module, runtime: str, device: str, dtype: torch.dtype | None = None):
        arch = getattr(model, "arch_kwargs", {})
        self.name = resolve_runtime(runtime, device, arch, dtype)
        self.device, self.dtype = device, dtype
        self.cache = _graphs.setdefault(model, {}).setdefault(("zero response", self.name, device, dtype), {})
        self.fmt = torch.contiguous_format if self.name == "eager" else torch.channels_last
        if self.name in OPTIONAL:
            self._run = _graph_runner(model, self.name)
            return
        self.model = model.to(device).eval().to(memory_format=self.fmt)
        if self.name == "compile":
            import torch._inductor.config as inductor

            inductor.freezing = True
            cached = _graphs.setdefault(model, {})
            self.model = cached.setdefault("compile", torch.compile(self.model))

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        if self.name in OPTIONAL:
            return np.asarray(self._run(np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)), np.float32)
        return forward(self.model, x.to(self.device), self.dtype, self.fmt)
