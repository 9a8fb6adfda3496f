"""Outputs of a finished tune study: best.toml, best_model/, trials.csv, figures and report.html."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tomli_w

from siteclass.config import TrainSettings, settings_dict


def _importance(study: Any) -> dict[str, float]:
    """fANOVA parameter importance; empty when it cannot be computed (too few trials, one value only)."""
    import warnings

    import optuna

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            importance = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except Exception:  # best effort: a figure, never a reason to lose the study's results
        return {}
    # with too few finished trials optuna warns and returns equal importances: no information, so no figure
    if any("too small to compute importances" in str(w.message) for w in caught):
        return {}
    return importance


def write_best_config(train: TrainSettings, path: Path) -> Path:
    """``[train]`` (+ ``[train.<model>]``) with the best values: a file ``siteclass train --config`` accepts."""
    data = settings_dict(train)
    # the general [train] keys (params included: a model from another package) and the tuned model's table;
    # other models' tables stay at their defaults
    tables = TrainSettings.model_tables()
    data = {k: v for k, v in data.items() if k not in tables or k == train.model}
    header = f"# best settings found by `siteclass tune`; train with: siteclass train --config {path.name}\n"
    path.write_text(header + tomli_w.dumps({"train": data}), encoding="utf-8")
    return path


def write_outputs(study: Any, result: Any, best_train: TrainSettings, model: str, space: dict[str, Any], out: Path,
                  best_model: Path | None, extra: dict[str, Any]) -> dict[str, Path]:
    """Render a finished study (*result*: a ``TuneResult``; *best_model*: the refitted folder, when one was made)."""
    from siteclass.report import embed_png, render_html
    from siteclass.report.plots import importance_png, objective_png

    files: dict[str, Path] = {}
    files["best_config"] = write_best_config(best_train, out / "best.toml")
    frame = study.trials_dataframe()
    files["trials"] = out / "trials.csv"
    frame.to_csv(files["trials"], index=False)
    trials = study.trials
    files["objective_png"] = objective_png([t.value for t in trials] if trials else [],
                                           [t.state.name for t in trials], result.metric,
                                           result.direction == "maximize", out / "objective.png")
    importance = _importance(study)
    images = {"objective": embed_png(files["objective_png"])}
    if importance:
        files["importance_png"] = importance_png(importance, out / "importance.png")
        images["importance"] = embed_png(files["importance_png"])
    best = study.best_trial
    if best_model is not None:
        files["best_model"] = best_model
    summary = {
        "model": model, "metric": result.metric, "direction": result.direction,
        "best_value": result.best_value, "best_trial": result.best_trial, "best_params": result.best_params,
        "best_temperature": best.user_attrs.get("temperature"), "best_metrics": best.user_attrs.get("metrics"),
        "n_trials": len(trials), "n_complete": result.n_complete, "n_pruned": result.n_pruned,
        "n_failed": result.n_failed, "importance": importance, "search_space": space, "retrained": best_model is not None,
        "worker_pids": sorted({t.user_attrs["pid"] for t in trials if "pid" in t.user_attrs}), **extra,
    }
    files["summary"] = out / "summary.json"
    files["summary"].write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    rows = []
    for t in trials:
        rows.append({
            "number": t.number, "state": t.state.name.lower(), "value": t.value,
            "params": ", ".join(f"{k}={_short(v)}" for k, v in t.params.items()),
            "steps": len(t.intermediate_values), "seconds": t.user_attrs.get("seconds"),
        })
    files["report"] = render_html("tune.html.j2", out / "report.html", s=summary, trials=rows, images=images,
                                  best_toml=files["best_config"].read_text(encoding="utf-8"))
    return files


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
