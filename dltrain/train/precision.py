"""Mixed precision: autocast for the forward pass, a GradScaler for float16."""

from __future__ import annotations

import contextlib
import logging

import torch

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

log = logging.getLogger("dltrain")

FP16_ON_CPU = (
    "precision=fp16 on a CPU: most CPUs have no fast float16 kernels, so autocast float16 "
    "trains far slower than fp32 (50x to 100x for the FashionMNIST CNN on a 2-core x86 CPU). "
    "On a CPU use precision=bf16 where the CPU has bfloat16 instructions (AVX512-BF16 or AMX), "
    "else precision=fp32; fp16 is meant for CUDA GPUs."
)


class Precision:
    def __init__(self, name: str, device: torch.device, tf32: bool = False) -> None:
        self.name = name
        self.dtype = DTYPES[name]
        self.device_type = device.type
        # GradScaler only does something for float16: bf16 has float32's exponent range.
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def warn_if_slow(name: str, device: torch.device) -> None:
    """Once per run (the main rank): fp16 on a CPU trains, only very slowly; say why and what
    to use instead."""
    if name == "fp16" and device.type == "cpu":
        log.warning(FP16_ON_CPU)
