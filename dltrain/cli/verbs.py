"""The one table of verbs: each verb's module, its one-line help and its usage lines.

``dltrain --help``, dispatch and each verb's ``--help`` and usage errors are all derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verb:
    name: str
    module: str  # a module with run(args: list[str]) and HELP
    help: str  # one line for dltrain --help
    usage: tuple[str, ...]  # command lines; the first is the usage errors name
    own_help: bool = True  # False: --help goes to the verb (train hands it to Hydra)
    options: bool = False  # configs/<name>.yaml holds its key=value options and defaults
    data: bool = False  # it opens a checkpoint: data.KEY=VALUE overrides the run's data config


VERBS: tuple[Verb, ...] = (
    Verb(
        "train",
        "dltrain.cli.train",
        "train a model; sweeps with -m, Optuna searches with hparams_search=",
        (
            "dltrain train [overrides...]   e.g. model=lenet optimizer.lr=3e-4",
            "dltrain train -m optimizer=sgd,adam optimizer.lr=1e-3,1e-2   (a sweep)",
            "dltrain train hparams_search=fmnist_optuna                   (an Optuna search)",
            "dltrain train --help | --cfg job   (every option | the composed config)",
        ),
        own_help=False,
    ),
    Verb(
        "eval",
        "dltrain.cli.eval",
        "evaluate a checkpoint on the test (or val) split",
        ("dltrain eval RUN_DIR|ckpt=PATH [split=test|val] [output=FILE] [data.KEY=VALUE...]",),
        options=True,
        data=True,
    ),
    Verb(
        "plot",
        "dltrain.cli.plot",
        "PNG curves, confusion matrix, sample predictions of a run (-> RUN_DIR/plots)",
        ("dltrain plot RUN_DIR|ckpt=PATH [split=auto|val|test] [samples=16] [predictions=false]",),
        options=True,
        data=True,
    ),
    Verb(
        "predict",
        "dltrain.cli.predict",
        "run a trained model on image files or a split (-> predictions.csv)",
        ("dltrain predict RUN_DIR|ckpt=PATH input=IMAGE|FOLDER|test|val|train [output=DIR]",),
        options=True,
        data=True,
    ),
    Verb(
        "export",
        "dltrain.cli.export",
        "write the model as torchscript, onnx, safetensors or exported_program, checked",
        ("dltrain export RUN_DIR|ckpt=PATH format=onnx|torchscript|safetensors|exported_program",),
        options=True,
        data=True,
    ),
    Verb(
        "report",
        "dltrain.cli.report",
        "a sweep's (or a run's) jobs, overrides, status and metrics, best first",
        ("dltrain report SWEEP_DIR|RUN_DIR   (-> report.csv, report.md, report.png)",),
        options=True,
    ),
    Verb(
        "list",
        "dltrain.cli.list",
        "the options of each config group (the files in configs/)",
        (
            "dltrain list [data|model|loss|optimizer|scheduler|precision|distributed|"
            "experiment|debug]",
            "dltrain list model imports=[my_pkg.models]   (adds the names your modules register)",
        ),
    ),
    Verb(
        "summary",
        "dltrain.cli.summary",
        "layers, output shapes and parameters of a model",
        (
            "dltrain summary [overrides...]      e.g. model=lenet data=cifar10 (a config)",
            "dltrain summary RUN_DIR|ckpt=PATH   (a trained model)",
        ),
    ),
    Verb(
        "shard",
        "dltrain.cli.shard",
        "write an image folder, IDX files or a CSV as WebDataset tar shards (data=webdataset)",
        ("dltrain shard SRC OUT [shard_size=10000] [format=webdataset|hf] [mask_threshold=0.5]",),
        options=True,
    ),
)
