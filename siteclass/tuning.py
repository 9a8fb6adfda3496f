"""Hyperparameter search with Optuna: TPE sampler, median pruner, SQLite storage that survives a kill.

    result = siteclass.tune("ds/", model="linear", trials=20, parallel=2, out="tune/")
    result.best_params; result.files["best_config"]   # tune/best.toml, accepted by `siteclass train --config`

Each trial fits the model on growing shares of the training split (``prune_fractions``, e.g. 25%, 50%, 100%)
and reports the validation metric after each to the median pruner, so poor settings stop early. A trial's fit
sees val as ``siteclass train`` gives it (a model that fits choices on it — blend weights, thresholds — is scored
as it will be used; those few numbers make the val score slightly optimistic, alike for every trial). A model with the
``epoch_callbacks`` capability (``fit(epoch_callback=f)``) is pruned per epoch instead. The best settings are then
fitted as ``siteclass train --refit`` fits: on train with val held out (val chooses epochs, blend weights,
thresholds, the temperature), then on train + val keeping those choices (``siteclass.training.refit``), into
``best_model/``. With ``parallel`` P > 1,
P worker processes share the study through its SQLite file. A study found under ``out`` is resumed: trials left
RUNNING by a killed run are marked FAIL and their parameters queued again.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siteclass.config import (
    DEFAULT_SEARCH_SPACES,
    Settings,
    TrainSettings,
    TuneSettings,
    save_settings,
    settings_dict,
)
from siteclass.errors import InputError, ModelError
from siteclass.models.registry import build_model
from siteclass.training import load_split, refit, resolve_settings

__all__ = ["TuneResult", "search_space", "tune"]

STUDY_FILE = "study.db"
STUDY_NAME = "siteclass"
LOWER_IS_BETTER = {"log_loss", "ece"}
METRICS = {"accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "cohen_kappa", "log_loss",
           "ece", "p_at_1", "micro_f1_ovr", "macro_f1_ovr", "top_1", "top_3", "top_5"}


# ----------------------------------------------------------------------------------------------- search space
def _hyperparameters(model: str) -> set[str]:
    """What a search space may set: the ``[train.<model>]`` table's keys, or a model class's own parameters."""
    from siteclass.models.registry import model_class

    tables = TrainSettings.model_tables()
    if model in tables:
        return set(getattr(TrainSettings.model_validate({}), model).model_fields)
    return set(model_class(model)._param_names())


def search_space(model: str, settings: TuneSettings) -> dict[str, dict[str, Any]]:
    """The default space of *model* with ``settings.search_space[model]`` laid over it, validated.

    Defaults: ``DEFAULT_SEARCH_SPACES`` (config.py) for siteclass's models, the class's ``search_space`` for a model
    from another package; ``[tune.search_space."<model>"]`` adds to or replaces any of it."""
    from siteclass.models.registry import is_model_name, model_class

    unknown = [name for name in settings.search_space if not is_model_name(name)]
    if unknown:
        raise InputError(f"[tune.search_space] names unknown model(s) {sorted(unknown)}; "
                         f"use one of {', '.join(DEFAULT_SEARCH_SPACES)} or a 'package.module:Class' path")
    default = DEFAULT_SEARCH_SPACES.get(model) or dict(model_class(model).search_space)
    space = {**default, **settings.search_space.get(model, {})}
    if not space:
        raise InputError(f"no search space for model {model!r}: give one in [tune.search_space.\"{model}\"] "
                         "or as the class's search_space attribute")
    fields = _hyperparameters(model)
    for name, spec in space.items():
        where = f"[tune.search_space.{model}] {name}"
        if name not in fields:
            raise InputError(f"{where}: {model} has no parameter {name!r}; valid: {', '.join(sorted(fields))}")
        if not isinstance(spec, dict) or spec.get("type") not in ("float", "int", "categorical", "fixed"):
            raise InputError(f"{where}: give a table with type = float, int, categorical or fixed")
        kind = spec["type"]
        if kind in ("float", "int") and not ("low" in spec and "high" in spec and spec["low"] <= spec["high"]):
            raise InputError(f"{where}: a {kind} range needs low <= high")
        if kind == "categorical" and not spec.get("choices"):
            raise InputError(f"{where}: a categorical parameter needs a non-empty 'choices' list")
        if kind == "fixed" and "value" not in spec:
            raise InputError(f"{where}: a fixed parameter needs a 'value'")
    return space


def _suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "float":
            params[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                               log=bool(spec.get("log", False)), step=spec.get("step"))
        elif kind == "int":
            params[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]),
                                             step=int(spec.get("step", 1)), log=bool(spec.get("log", False)))
        elif kind == "categorical":
            # Optuna wants scalar choices; lists (n-gram ranges) go through their JSON text.
            choices = [json.dumps(c) if isinstance(c, list | tuple) else c for c in spec["choices"]]
            value = trial.suggest_categorical(name, choices)
            params[name] = json.loads(value) if isinstance(value, str) and value.startswith("[") else value
        else:
            params[name] = spec["value"]
    return params


def _train_settings(base: TrainSettings, model: str, params: dict[str, Any]) -> TrainSettings:
    """*base* with a trial's *params* laid over the model's table (or ``[train] params``), as ``train`` does."""
    try:
        return resolve_settings(base, model, params)
    except InputError as exc:
        raise InputError(f"search space gives invalid values {params} for model {model!r}: {exc}") from exc


# ----------------------------------------------------------------------------------------------- data
def _stratified_order(labels: Sequence[Any], seed: int) -> np.ndarray:
    """Row order whose every prefix holds each class in about its overall share."""
    keys = [lab if isinstance(lab, str) else "|".join(lab) for lab in labels]
    rng = np.random.default_rng(seed)
    position = np.zeros(len(keys))
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    for rows in groups.values():
        perm = rng.permutation(rows)
        position[perm] = (np.arange(len(perm)) + rng.random()) / len(perm)
    return np.argsort(position, kind="stable")


# ----------------------------------------------------------------------------------------------- objective
@dataclass
class _Job:
    """Everything a worker needs to run trials (JSON-able: worker processes get it on their command line)."""

    data: str
    model: str
    storage: str
    study_name: str
    metric: str
    train_settings: dict[str, Any]
    tune_settings: dict[str, Any]
    space: dict[str, dict[str, Any]]


def _metric_value(metrics: dict[str, Any], name: str) -> float:
    if name.startswith("top_"):
        return float(metrics["top_k_accuracy"][name[4:]])
    if name not in metrics:
        raise InputError(f"metric {name!r} is not computed for this model (multi-label only?)")
    return float(metrics[name])


class _Objective:
    def __init__(self, job: _Job) -> None:
        self.job = job
        self.base = TrainSettings.model_validate(job.train_settings)
        self.tune = TuneSettings.model_validate(job.tune_settings)
        self.train = load_split(job.data, "train")
        self.val = load_split(job.data, "val")
        self.order = _stratified_order(self.train.labels, self.tune.seed)

    def _score(self, clf: Any) -> dict[str, Any]:
        from siteclass.config import EvaluateSettings
        from siteclass.evaluation import score

        top_k = tuple(sorted({1, 3, 5}))
        proba = clf.predict_proba(self.val.records)
        return score(clf.classes_, clf.multi_label_, self.val.labels, proba, None,
                     EvaluateSettings.model_validate({"top_k": top_k}), clf.multi_label_threshold).metrics

    def __call__(self, trial: Any) -> float:
        import optuna

        params = _suggest(trial, self.job.space)
        ts = _train_settings(self.base, self.job.model, params)
        trial.set_user_attr("pid", os.getpid())
        started = time.perf_counter()
        clf = build_model(ts)
        value = float("nan")
        if clf.epoch_callbacks:
            def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
                if self.job.metric in metrics:
                    trial.report(float(metrics[self.job.metric]), epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"pruned at epoch {epoch}")

            clf.fit(self.train.records, self.train.labels, X_val=self.val.records, y_val=self.val.labels,
                    **clf.fit_options(progress=False, epoch_callback=on_epoch))
            metrics = self._score(clf)
            value = _metric_value(metrics, self.job.metric)
        else:
            fractions = sorted(set(self.tune.prune_fractions) | {1.0})
            n = len(self.order)
            for step, frac in enumerate(fractions):
                keep = self.order[: max(2, math.ceil(n * frac))]
                records = [self.train.records[i] for i in keep]
                labels = [self.train.labels[i] for i in keep]
                clf.fit(records, labels, X_val=self.val.records or None, y_val=self.val.labels or None,
                        **clf.fit_options(progress=False))
                metrics = self._score(clf)
                value = _metric_value(metrics, self.job.metric)
                trial.report(value, step)
                if frac < 1.0 and trial.should_prune():
                    trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
                    raise optuna.TrialPruned(f"pruned at {frac:.0%} of the training split")
        clf.calibrate(self.val.records, self.val.labels)
        trial.set_user_attr("temperature", float(clf.temperature_))
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        trial.set_user_attr("metrics", {k: metrics[k] for k in ("accuracy", "macro_f1", "weighted_f1", "log_loss",
                                                                "ece") if k in metrics})
        return value


def _storage(url: str) -> Any:
    import optuna

    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})


def _sampler(tune: TuneSettings, worker: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=tune.seed + 1000 * worker, n_startup_trials=tune.sampler_startup_trials)


def _pruner(tune: TuneSettings) -> Any:
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=tune.pruner_startup_trials, n_warmup_steps=0)


def _run_worker(job: _Job, worker: int, n_trials: int, timeout_s: float | None) -> None:
    """Run *n_trials* trials of the shared study (in this process)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tune = TuneSettings.model_validate(job.tune_settings)
    study = optuna.load_study(study_name=job.study_name, storage=_storage(job.storage),
                              sampler=_sampler(tune, worker), pruner=_pruner(tune))
    study.optimize(_Objective(job), n_trials=n_trials, timeout=timeout_s, gc_after_trial=False)


def _worker_entry(payload: str) -> None:
    """Entry point of a worker process: ``python -c … _worker_entry(JSON)``; exits when its parent dies."""
    import threading

    args = json.loads(payload)
    parent = os.getppid()

    def watch_parent() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:  # the tune process was killed: stop, its trial stays RUNNING → resumed
                os._exit(1)

    threading.Thread(target=watch_parent, daemon=True).start()
    _run_worker(_Job(**args["job"]), args["worker"], args["n_trials"], args["timeout_s"])


# ----------------------------------------------------------------------------------------------- tune
@dataclass
class TuneResult:
    best_value: float
    best_params: dict[str, Any]
    best_trial: int
    metric: str
    direction: str
    n_complete: int
    n_pruned: int
    n_failed: int
    out: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def report(self) -> Path | None:
        return self.files.get("report")


def _direction(tune: TuneSettings) -> str:
    if tune.direction != "auto":
        return tune.direction
    return "minimize" if tune.metric in LOWER_IS_BETTER else "maximize"


def _recover(study: Any) -> int:
    """Mark trials left RUNNING by a killed run as FAIL and queue their parameters again."""
    from optuna.trial import TrialState

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for t in stale:
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        if t.params:  # killed before it drew its parameters: nothing to retry, the sampler draws anew
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
    return len(stale)


def tune(
    data: str | Path,
    model: str | None = None,
    trials: int | None = None,
    parallel: int | None = None,
    out: str | Path = "tune",
    settings: Settings | None = None,
    metric: str | None = None,
) -> TuneResult:
    """Search hyperparameters of *model* (default: ``[train] model``) on dataset folder *data* (train and val
    splits); see the module doc."""
    import optuna
    from optuna.trial import TrialState

    s = settings or Settings()
    model = model or s.train.model
    tune_s = s.tune.model_copy(update={k: v for k, v in
                                       {"trials": trials, "parallel": parallel, "metric": metric}.items()
                                       if v is not None})
    tune_s = TuneSettings.model_validate(tune_s.model_dump())
    if tune_s.metric not in METRICS:
        raise InputError(f"unknown tune metric {tune_s.metric!r}; choose one of {', '.join(sorted(METRICS))}")
    space = search_space(model, tune_s)
    load_split(data, "train"), load_split(data, "val")  # fail fast on a bad dataset folder
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    storage_url = f"sqlite:///{(out / STUDY_FILE).resolve()}"
    direction = _direction(tune_s)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY_NAME, storage=_storage(storage_url), direction=direction,  # type: ignore[arg-type]
                                load_if_exists=True, sampler=_sampler(tune_s, 0), pruner=_pruner(tune_s))
    attrs = {"model": model, "metric": tune_s.metric, "data": str(Path(data).resolve())}
    for key, value in attrs.items():
        old = study.user_attrs.get(key)
        if old is None:
            study.set_user_attr(key, value)
        elif old != value and key != "data":
            raise InputError(f"{out} holds a study with {key}={old!r}, not {value!r}; use another --out folder")
    if study.direction.name.lower() != direction:
        raise InputError(f"{out} holds a study that {study.direction.name.lower()}s; use another --out folder")
    recovered = _recover(study)
    done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.get_trials(deepcopy=False))
    left = max(0, tune_s.trials - done)
    job = _Job(str(data), model, storage_url, STUDY_NAME, tune_s.metric, settings_dict(s.train),
               settings_dict(tune_s), space)
    started = time.perf_counter()
    if left:
        _run_all(job, left, tune_s.parallel, tune_s.timeout_s)
    elapsed = time.perf_counter() - started
    study = optuna.load_study(study_name=STUDY_NAME, storage=_storage(storage_url))
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not complete:
        fails = [t for t in study.trials if t.state == TrialState.FAIL]
        raise ModelError(f"no trial completed in {out} ({len(fails)} failed); see the errors above")
    best = study.best_trial
    best_train = _train_settings(s.train, model, _suggest_fixed(best.params, space))
    result = TuneResult(
        best_value=float(best.value or 0.0),
        best_params=_suggest_fixed(best.params, space),
        best_trial=best.number,
        metric=tune_s.metric,
        direction=direction,  # type: ignore[arg-type]
        n_complete=len(complete),
        n_pruned=sum(t.state == TrialState.PRUNED for t in study.trials),
        n_failed=sum(t.state == TrialState.FAIL for t in study.trials),
        out=out,
    )
    save_settings(tune_s, out, section="tune")
    best_model = None
    if tune_s.retrain:
        card = {"tune": {"metric": result.metric, "best_value": result.best_value, "best_trial": best.number,
                         "params": result.best_params}}
        best_model = refit(data, best_train, out / "best_model", card=card)  # val chooses, then train + val
    from siteclass.report.tune import write_outputs

    result.files = write_outputs(study, result, best_train, model, space, out, best_model=best_model,
                                 extra={"recovered_trials": recovered, "seconds": round(elapsed, 2),
                                        "parallel": tune_s.parallel})
    return result


def _suggest_fixed(params: dict[str, Any], space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A finished trial's params decoded like ``_suggest`` (JSON lists back to lists; fixed values added)."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if spec["type"] == "fixed":
            out[name] = spec["value"]
        elif name in params:
            v = params[name]
            out[name] = json.loads(v) if isinstance(v, str) and v.startswith("[") else v
    return out


def _run_all(job: _Job, n_trials: int, parallel: int, timeout_s: float | None) -> None:
    """Run the trials here (parallel 1) or in *parallel* worker processes sharing the SQLite study."""
    if parallel <= 1:
        _run_worker(job, 0, n_trials, timeout_s)
        return
    import subprocess
    from dataclasses import asdict

    shares = [n_trials // parallel + (1 if i < n_trials % parallel else 0) for i in range(parallel)]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    code = "import sys; from siteclass.tuning import _worker_entry; _worker_entry(sys.argv[1])"
    procs = []
    try:
        for i, n in enumerate(shares):
            if n:
                payload = json.dumps({"job": asdict(job), "worker": i + 1, "n_trials": n, "timeout_s": timeout_s})
                procs.append(subprocess.Popen([sys.executable, "-c", code, payload], env=env))
        for p in procs:
            p.wait()
    except BaseException:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        raise
    bad = [p for p in procs if p.returncode != 0]
    if bad:
        raise ModelError(f"{len(bad)} tune worker(s) failed (exit codes {[p.returncode for p in bad]}); "
                         "their error is printed above")

