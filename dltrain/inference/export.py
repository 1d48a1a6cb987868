"""The model in a deployable format, checked (``dltrain export``, dltrain/cli/export.py).

Every format is exported with a dynamic batch dimension from an example batch of 2, then loaded
back the way a user would load it and run on a different batch size next to the original model:
the max abs difference is printed, and above ``tolerance`` the command fails (exit 1).

torchscript       model.torchscript.pt  torch.jit.trace; load with torch.jit.load
onnx              model.onnx            torch.onnx.export (dynamo); checked with onnxruntime
safetensors       model.safetensors     the weights (+ the run config as metadata); load into
                                        the model class with safetensors.torch.load_model
exported_program  model.pt2             torch.export; load with torch.export.load(...).module()
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dltrain.errors import RunError, UserError
from dltrain.inference.trained import Trained
from dltrain.train.run_files import public_mode

Runner = Callable[[torch.Tensor], torch.Tensor]
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


def _batch_dim() -> dict[str, Any]:
    return {"x": {0: torch.export.Dim("batch")}}


def _torchscript(trained: Trained, example: torch.Tensor, path: Path) -> Runner:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: the check below is what counts
        traced = torch.jit.trace(trained.model, example, check_trace=False)
        traced.save(str(path))
        loaded = torch.jit.load(str(path), map_location=example.device)
    return loaded


def _onnx(trained: Trained, example: torch.Tensor, path: Path) -> Runner:
    import onnxruntime

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            trained.model,
            (example,),
            str(path),
            dynamo=True,
            dynamic_shapes=_batch_dim(),
            input_names=["input"],
            output_names=["output"],
            external_data=False,  # one self-contained file (models under 2 GB)
            verbose=False,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(inputs: torch.Tensor) -> torch.Tensor:
        (outputs,) = session.run(None, {"input": inputs.cpu().numpy()})
        return torch.from_numpy(outputs)

    return run


def _safetensors(trained: Trained, example: torch.Tensor, path: Path) -> Runner:
    from safetensors.torch import load_model, save_model

    from dltrain.models.build import build_model

    metadata = {"dltrain_config": json.dumps(trained.cfg), "task": trained.task}
    save_model(trained.model, str(path), metadata=metadata)
    path.chmod(public_mode())
    fresh = build_model(trained.cfg["model"], load_weights=False).to(example.device).eval()
    load_model(fresh, str(path), device=str(example.device))
    return fresh


def _exported_program(trained: Trained, example: torch.Tensor, path: Path) -> Runner:
    program = torch.export.export(trained.model, (example,), dynamic_shapes=_batch_dim())
    torch.export.save(program, str(path))
    return torch.export.load(str(path)).module()


FORMATS: dict[str, tuple[str, Callable[[Trained, torch.Tensor, Path], Runner]]] = {
    "torchscript": (".torchscript.pt", _torchscript),
    "onnx": (".onnx", _onnx),
    "safetensors": (".safetensors", _safetensors),
    "exported_program": (".pt2", _exported_program),
}


def check_format(fmt: str) -> None:
    """A known format whose packages are installed (before any model is loaded)."""
    if fmt not in FORMATS:
        from dltrain.registry import did_you_mean

        raise UserError(
            f"format={fmt} is not an export format.{did_you_mean(fmt, FORMATS)} "
            f"Formats: {', '.join(FORMATS)}."
        )
    if fmt == "onnx":
        missing = [p for p in ONNX_PACKAGES if importlib.util.find_spec(p) is None]
        if missing:
            raise UserError(
                f"format=onnx needs {', '.join(missing)}, which is not installed. Install the "
                "onnx extra: pip install 'dltrain[onnx]'."
            )


def export(
    trained: Trained,
    fmt: str,
    output: Path | None = None,
    check_batch: int = 8,
    tolerance: float = 1e-4,
) -> tuple[Path, float]:
    """Export, reload, compare; (the file, the max abs difference on ``check_batch`` inputs).

    ``output`` defaults to RUN_DIR/export/model.<format's suffix>; above ``tolerance`` it is
    a RunError (exit 1).
    """
    check_format(fmt)
    if check_batch < 1:
        raise UserError(f"check_batch must be 1 or more, got {check_batch}.")
    suffix, write = FORMATS[fmt]
    output = Path(output or trained.run_dir / "export" / f"model{suffix}")
    output.parent.mkdir(parents=True, exist_ok=True)
    shape = trained.input_shape
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(2, *shape, generator=generator).to(trained.device)
    try:
        exported = write(trained, example, output)
    except (RuntimeError, ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        name = trained.cfg["model"]["name"]
        raise RunError(f"exporting model '{name}' as {fmt} failed: {first}") from err
    batch = torch.randn(check_batch, *shape, generator=generator).to(trained.device)
    with torch.inference_mode():
        expected = trained.model(batch).float().cpu()
        got = exported(batch).float().cpu()
    if got.shape != expected.shape:
        raise RunError(f"the {fmt} model returns {tuple(got.shape)}, not {tuple(expected.shape)}.")
    diff = (got - expected).abs().max().item()
    if not diff <= tolerance:
        raise RunError(
            f"the exported model's outputs differ from the original by {diff:.3g}, above "
            f"tolerance={tolerance}: do not use {output}."
        )
    return output, diff
