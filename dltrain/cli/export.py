"""``dltrain export RUN_DIR|ckpt=PATH format=...``: the model in a deployable format, checked."""

from __future__ import annotations

HELP = """\
Exports with a dynamic batch dimension, loads the file back the way a user would and runs it
next to the original model on check_batch random inputs: above tolerance, exit 1.
  torchscript       model.torchscript.pt  load with torch.jit.load
  onnx              model.onnx            checked with onnxruntime (pip install 'dltrain[onnx]')
  safetensors       model.safetensors     the weights, the run config as metadata
  exported_program  model.pt2             load with torch.export.load(...).module()
  dltrain export outputs/DATE/TIME format=onnx"""


def run(args: list[str]) -> float:
    from dltrain.cli.options import parse_options
    from dltrain.errors import UserError

    options, data_overrides = parse_options("export", args, positional="ckpt")
    if options["check_batch"] < 1:
        raise UserError(f"check_batch must be 1 or more, got {options['check_batch']}.")
    from dltrain.inference.export import check_format, export
    from dltrain.inference.trained import load_trained

    check_format(options["format"])  # before the model loads
    trained = load_trained(options["ckpt"], options["device"], data_overrides)
    shape = " x ".join(map(str, trained.input_shape))
    written, diff = export(
        trained, options["format"], options["output"], options["check_batch"], options["tolerance"]
    )
    print(f"wrote {written} ({options['format']}; input float32 N x {shape})")
    print(f"max abs difference vs the PyTorch model on a batch of {options['check_batch']}: "
          f"{diff:.3g}")  # fmt: skip
    return diff
