"""Native TensorRT backend: deserialized plans, pre-allocated device buffers, one CUDA
stream, and the whole denoising loop captured once as a CUDA graph and replayed.

Device buffers are torch CUDA tensors (torch is a dependency already, so the extra needs
no second CUDA binding); their addresses are bound to each execution context once. The
context graph writes its K/V straight into the buffers the denoise graph reads, so nothing
crosses the bus between the two. ``denoise_loop`` runs the same Euler schedule as
:func:`cosmos_policy.policy.sampler.euler_sample`, with torch ops on the stream between the
TensorRT launches, and captures it per (mode, steps) on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.engine.manifest import EngineManifest
from cosmos_policy.engine.tensorrt_build import build_target, import_tensorrt
from cosmos_policy.errors import UserError
from cosmos_policy.models.flow import Mode


def _torch_dtype(trt: Any, dtype: Any) -> Any:
    import torch

    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16,
             trt.DataType.UINT8: torch.uint8, trt.DataType.INT32: torch.int32,
             trt.DataType.INT64: torch.int64, trt.DataType.BOOL: torch.bool}
    if hasattr(trt.DataType, "BF16"):
        table[trt.DataType.BF16] = torch.bfloat16
    return table[dtype]


class TensorRTBackend:
    """The engine's serialized plans on the native TensorRT runtime (one GPU)."""

    name = "tensorrt"

    def load(self, root: Path, manifest: EngineManifest) -> None:
        import torch

        trt = import_tensorrt()
        here = build_target()
        built = manifest.target
        for k in ("compute_capability", "tensorrt"):
            if built.get(k) != here[k]:
                raise UserError(f"engine {root} was built for {k} {built.get(k)}, this machine "
                                f"has {here[k]}; TensorRT plans do not travel, rebuild it "
                                "with `cosmos-policy engine build --backend tensorrt`")
        self.device = torch.device("cuda")
        self.stream = torch.cuda.Stream()
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engines, self.contexts, self.buffers = {}, {}, {}
        shared: dict[str, Any] = {}  # context's K/V outputs are the denoise graph's inputs
        for graph in ("context", "denoise", "encode_frames", "decode_latents"):
            plan = (root / manifest.plans[graph]["file"]).read_bytes()
            engine = self.runtime.deserialize_cuda_engine(plan)
            if engine is None:
                raise UserError(f"TensorRT could not deserialize {graph}.plan in {root}; "
                                "rebuild it with `cosmos-policy engine build --backend tensorrt`")
            ctx = engine.create_execution_context()
            bufs = {}
            for i in range(engine.num_io_tensors):
                name = engine.get_tensor_name(i)
                shape = tuple(engine.get_tensor_shape(name))
                dtype = _torch_dtype(trt, engine.get_tensor_dtype(name))
                if name in ("context_kv", "key_bias"):
                    buf = shared.setdefault(name, torch.empty(shape, dtype=dtype,
                                                              device=self.device))
                else:
                    buf = torch.empty(shape, dtype=dtype, device=self.device)
                ctx.set_tensor_address(name, buf.data_ptr())
                bufs[name] = buf
            self.engines[graph], self.contexts[graph], self.buffers[graph] = engine, ctx, bufs
        self._outputs = {g: [s["name"] for s in manifest.graphs[g]["outputs"]]
                         for g in manifest.graphs}
        self._loops: dict[tuple[int, int], Any] = {}

    def _launch(self, graph: str) -> None:
        if not self.contexts[graph].execute_async_v3(self.stream.cuda_stream):
            raise RuntimeError(f"TensorRT failed to run the {graph} graph")

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        bufs = self.buffers[graph]
        with torch.cuda.stream(self.stream):
            for name, value in feeds.items():
                bufs[name].copy_(torch.from_numpy(np.ascontiguousarray(value)), non_blocking=False)
            self._launch(graph)
        self.stream.synchronize()
        return {n: bufs[n].cpu().numpy() for n in self._outputs[graph]}

    # The denoising loop on the GPU, as one CUDA graph -------------------------------
    def _capture(self, mode: Mode, steps: int) -> Any:
        import torch

        b = self.buffers["denoise"]
        x_a, x_l, t_a, t_l = (b["noisy_actions"], b["noisy_latents"], b["t_actions"],
                              b["t_latents"])
        self._mask = getattr(self, "_mask", torch.zeros(x_a.shape[0], 1, x_a.shape[2],
                                                        device=self.device))
        h = 1.0 / steps

        def body() -> None:
            for i in range(steps):
                t_a.fill_(1.0 if mode == Mode.FORWARD else i / steps)
                t_l.fill_(1.0 if mode == Mode.INVERSE else i / steps)
                self._launch("denoise")
                if mode != Mode.FORWARD:
                    x_a.add_(b["v_actions"] * h * self._mask)
                if mode != Mode.INVERSE:
                    x_l.add_(b["v_latents"] * h)

        with torch.cuda.stream(self.stream):
            body()  # warm-up outside capture: TensorRT flushes deferred work on the first run
        self.stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            body()
        return graph

    def denoise_loop(self, ctx: dict[str, np.ndarray], x_a: np.ndarray, x_l: np.ndarray,
                     mode: Mode, action_mask: np.ndarray, steps: int,
                     actions: np.ndarray | None = None, future: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Euler-sample on the GPU (same schedule as ``euler_sample``); ctx is ignored since
        the context graph already left its K/V in the shared device buffers."""
        import torch

        del ctx
        key = (int(mode), steps)
        if key not in self._loops:
            self._loops[key] = self._capture(mode, steps)
        b = self.buffers["denoise"]
        mask = action_mask[:, None, :].astype(np.float32)
        if mode == Mode.FORWARD:
            x_a = actions * mask
        if mode == Mode.INVERSE:
            x_l = future
        with torch.cuda.stream(self.stream):
            self._mask.copy_(torch.from_numpy(mask))
            b["noisy_actions"].copy_(torch.from_numpy(np.ascontiguousarray(x_a, np.float32)))
            b["noisy_latents"].copy_(torch.from_numpy(np.ascontiguousarray(x_l, np.float32)))
            self._loops[key].replay()
        self.stream.synchronize()
        return b["noisy_actions"].cpu().numpy(), b["noisy_latents"].cpu().numpy()
