"""Mixed precision: autocast for the forward pass, a GradScaler for float16."""

from __future__ import annotations

import contextlib

import torch

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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
