"""The Optuna sweeper: a search of a few trials with one pruned, continued by a re-run."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers.sweep import job, sweep

optuna = pytest.importorskip("optuna")


@pytest.mark.slow
def test_search_prunes_a_clearly_worse_trial_and_a_rerun_continues_the_study(tmp_path):
    folder = tmp_path / "sweep"
    args = [
        "hydra/sweeper=dltrain_optuna",
        "trainer.max_epochs=2",
        "checkpoint.monitor=val/loss",  # continuous, so the bad trial is strictly worse
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.sampler.seed=0",
        "optimizer.lr=tag(log,interval(1e-9,1e-2))",
        # a good trial first, then one that cannot learn: it is pruned after epoch 1
        "hydra.sweeper.enqueue=[{optimizer.lr:1e-3},{optimizer.lr:1e-9}]",
    ]
    result = sweep(tmp_path / "sweep", *args, "hydra.sweeper.n_trials=2")
    assert result.returncode == 0, result.stderr
    assert job(folder, 0)["status"] == "completed"
    assert job(folder, 1)["status"] == "pruned" and job(folder, 1)["exit_code"] == 3
    study = optuna.load_study(study_name="dltrain", storage=f"sqlite:///{folder / 'optuna.db'}")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE  # checkpoint.mode auto
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    assert list(study.trials[1].intermediate_values) == [1]
    best = yaml.safe_load((folder / "optuna_best.yaml").read_text())
    assert best["trial"] == 0 and best["params"] == {"optimizer.lr": 1e-3}

    done = (folder / "0" / "results.json").stat().st_mtime_ns
    result = sweep(folder, *args, "hydra.sweeper.n_trials=3")
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="dltrain", storage=f"sqlite:///{folder / 'optuna.db'}")
    assert len(study.trials) == 3, "the re-run adds only the missing trial"
    assert (folder / "0" / "results.json").stat().st_mtime_ns == done
    assert job(folder, 2)["status"] in ("completed", "pruned")


def test_preset_validates_samples_of_its_search_space(tmp_path):
    folder = tmp_path / "sweep"
    result = sweep(
        folder, "hparams_search=fmnist_optuna", "optimizer=choice(adam,nope)", multirun=False
    )
    assert result.returncode == 2
    assert "no optimizer option 'nope'" in result.stderr
    assert not folder.exists()
