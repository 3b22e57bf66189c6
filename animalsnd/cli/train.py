"""`animalsnd train`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from animalsnd.cli._app import app, console, handle_errors, warn

_MODELS = ("cnn1d, cnn1d-enhanced, alexnet-mel, transformer-mel, birdnet-head (needs the birdnet extra), protonet, "
           "stats-mlp")


@app.command()
@handle_errors
def train(
    cache_dir: Path = typer.Argument(..., help="A feature cache made by `animalsnd prepare`."),
    model: str = typer.Option(..., "--model", help=f"Architecture: {_MODELS}."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (with --cv: one fold-<k> bundle per fold)."),
    test_fold: int = typer.Option(0, "--test-fold", help="Fold held out for testing."),
    cv: bool = typer.Option(False, "--cv", help="Hold out every fold in turn; report mean ± std."),
    recipe: str = typer.Option("default", "--recipe", help="Named recipe the flags below start from: default, or for cnn1d-enhanced 'tuned' (batch 16, patience 15, at most 100 epochs, lighter SpecAugment and dropout; the best 5-fold result from scratch). Explicit flags override it."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Maximum epochs. [default: cnn1d 40 (fixed); cnn1d-enhanced, alexnet-mel 60, transformer-mel 80, birdnet-head 200, stats-mlp 150 (fixed); protonet 40 pretraining epochs]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size. [default: 32]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="Initial learning rate. [default: 1e-3; transformer-mel 5e-4]"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam or adamw. [default: cnn1d adam, others adamw]"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW decoupled weight decay. [default: 1e-4 with adamw]"),
    class_weights: Optional[bool] = typer.Option(None, "--class-weights/--no-class-weights", help="Weight classes by inverse frequency (mean weight 1). [default: off for cnn1d, on for others]"),
    spec_augment: Optional[bool] = typer.Option(None, "--spec-augment/--no-spec-augment", help="SpecAugment time/frequency masks on training batches. [default: off for cnn1d, on for others]"),
    time_masks: Optional[int] = typer.Option(None, "--time-masks", help="SpecAugment time masks. [default: 2]"),
    freq_masks: Optional[int] = typer.Option(None, "--freq-masks", help="SpecAugment frequency masks. [default: 2]"),
    time_width: Optional[int] = typer.Option(None, "--time-width", help="Widest time mask (frames). [default: 40]"),
    freq_width: Optional[int] = typer.Option(None, "--freq-width", help="Widest frequency mask (Mel bands). [default: 16]"),
    mixup: Optional[float] = typer.Option(None, "--mixup", help="Mixup alpha (0 = off). [default: 0]"),
    floor_shift: Optional[float] = typer.Option(None, "--floor-shift", help="Raise the background of --norm floor features on training batches by up to this many dB, with a random per-band shape, as a steady noise of any colour would (0 = off). [default: 0]"),
    label_smoothing: Optional[float] = typer.Option(None, "--label-smoothing", help="Label smoothing. [default: 0.0]"),
    loss: Optional[str] = typer.Option(None, "--loss", help="ce, focal or class-balanced. [default: ce]"),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Stratified part of the training folds used for validation. [default: 0.1]"),
    early_stopping: Optional[bool] = typer.Option(None, "--early-stopping/--no-early-stopping", help="Stop when val loss stalls; keep the best epoch. [default: off for cnn1d, on for others]"),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early-stopping patience (epochs). [default: 6; transformer-mel 10]"),
    lr_schedule: Optional[bool] = typer.Option(None, "--lr-schedule/--no-lr-schedule", help="Halve the learning rate after 3 stalled epochs. [default: off for cnn1d, on for others]"),
    model_option: list[str] = typer.Option([], "--model-option", help="Architecture option KEY=VALUE for the model builder (repeatable; VALUE is JSON or text), e.g. dense_units=128; birdnet-head: known=0 turns off BirdNET's own score for the classes it knows by name (docs/models.md)."),
    seed: int = typer.Option(0, "--seed", help="Seed for validation split, weights, shuffling and augmentation."),
    pool: Optional[str] = typer.Option(None, "--pool", help="birdnet-head: pooling of a clip's 3-s window embeddings: mean, max, meanmax (mean and max concatenated) or meanstd. [default: meanmax]"),
    shots: Optional[int] = typer.Option(None, "--shots", help="protonet, birdnet-head, stats-mlp: labelled training clips per class, drawn with --seed (a few-shot evaluation). [default: all]"),
    unlabeled: Optional[Path] = typer.Option(None, "--unlabeled", help="protonet: folder of extra unlabelled audio for the self-supervised pretraining."),
    finetune_epochs: Optional[int] = typer.Option(None, "--finetune-epochs", help="protonet: episodic fine-tuning epochs after pretraining (0: none). [default: 10]"),
    jobs: int = typer.Option(-1, "--jobs", help="With --cv: folds trained at once in worker processes, each with its share of TensorFlow threads (1: one after another; the results are the same). birdnet-head, stats-mlp: also the workers computing missing BirdNET embeddings or clip descriptors (-1: all cores)."),
    backend: str = typer.Option("local", "--backend", help="With --cv: local (processes on this machine) or dask (one task per fold on a cluster; the cache and --out folders must be shared)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", envvar="ANIMALSND_DASK_SCHEDULER", help="Dask scheduler address (tcp://host:8786) or 'local'."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write per-fold metrics and mean/std as JSON."),
    augmented: Optional[str] = typer.Option(None, "--augmented", help="Add copies from this augmented set (made by `animalsnd augment`) of the training clips."),
    export: Optional[str] = typer.Option(None, "--export", help="Also write model.tflite ('tflite')."),
    target_precision: float = typer.Option(0.9, "--target-precision", help="Calibrate after training: a temperature for the probabilities and, per class, the lowest confidence at which held-out clips of that label are right this often (out-of-fold under --cv; the test fold otherwise). Written to MODEL_DIR/calibration.json; predict uses it by default. 0: no calibration."),
) -> None:
    """Train a model on a prepared cache and score its held-out fold."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from animalsnd.cli.plain import make_progress

    from animalsnd.cache import atomic_write_text
    from animalsnd.errors import ConfigError
    from animalsnd.fileutil import MODEL_FOLDER_NAMES, check_output_file, check_output_folder
    from animalsnd.parallel import check_jobs
    from animalsnd.render_eval import folds_table, mean_std_line, metrics_line, per_class_table
    from animalsnd.train import TrainConfig, train as run_train

    if export not in (None, "tflite"):
        raise ConfigError(f"--export {export!r}: only 'tflite' is supported")
    check_jobs(jobs)
    if not 0.0 <= target_precision < 1.0:
        raise ConfigError(f"--target-precision {target_precision} must be at least 0 (0: no calibration) and below 1")
    check_output_folder(out, "--out", may_hold=MODEL_FOLDER_NAMES, inputs=[cache_dir])  # before any training
    check_output_file(json_out, "--json", inputs=[cache_dir / "manifest.csv", cache_dir / "config.json"])
    config = TrainConfig.for_model(
        model, recipe=recipe, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
        weight_decay=weight_decay, class_weights=class_weights, spec_augment=spec_augment,
        time_masks=time_masks, freq_masks=freq_masks, time_width=time_width, freq_width=freq_width,
        mixup=mixup, label_smoothing=label_smoothing, loss=loss, val_fraction=val_fraction,
        early_stopping=early_stopping, patience=patience, lr_schedule=lr_schedule, seed=seed,
        model_options=_model_options(model_option), pool=pool, shots=shots,
        unlabeled=str(unlabeled) if unlabeled is not None else None, finetune_epochs=finetune_epochs,
        floor_shift=floor_shift,
    )

    def on_start(info: dict) -> None:
        console.print(_recipe(config))
        console.print(
            f"[dim]{info['n_clips']} clips, {len(info['classes'])} classes, {info['n_folds']} folds; "
            f"testing on fold{'s' if len(info['folds']) > 1 else ''} {', '.join(map(str, info['folds']))}"
            + (f"; {info['n_augmented']} augmented copies available" if info["n_augmented"] else "") + "[/]"
        )
        if cv:
            tasks["folds"] = progress.add_task("Folds", total=len(info["folds"]), stats="", unit="done")

    progress = make_progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(), TextColumn("{task.fields[stats]}"), console=console, transient=False,
    )
    tasks: dict[int, int] = {}

    def on_epoch(s) -> None:
        if s.fold not in tasks:
            tasks[s.fold] = progress.add_task(f"fold {s.fold}", total=s.epochs, stats="", unit="epochs")
        stats = f"loss {s.loss:.3f} acc {s.accuracy:.3f}"
        if s.val_loss is not None:
            stats += f"  val loss {s.val_loss:.3f} acc {s.val_accuracy:.3f}"
        stats += f"  lr {s.lr:.1e}"
        progress.update(tasks[s.fold], completed=s.epoch, stats=stats)

    def on_embed(done: int, total: int) -> None:
        if total == 0:
            return
        if "embed" not in tasks:
            from animalsnd.families import inputs_label

            tasks["embed"] = progress.add_task(inputs_label(config.model), total=total, stats="", unit="clips")
        progress.update(tasks["embed"], completed=done)

    def on_fold_end(r) -> None:
        if r.fold in tasks:
            progress.update(tasks[r.fold], total=r.epochs_run, completed=r.epochs_run)
        if "folds" in tasks:
            progress.advance(tasks["folds"])
        note = f", best epoch {r.best_epoch}" if r.best_epoch else ""
        progress.console.print(
            f"fold {r.fold}: {metrics_line(r.metrics)}  [dim]{r.epochs_run} epochs{note}, "
            f"{r.train_seconds:.0f} s, {r.n_train} train / {r.n_val} val / {r.n_test} test"
            + (f", +{r.n_augmented} augmented" if r.n_augmented else "") + "[/]"
        )

    (out / "calibration.json").unlink(missing_ok=True)  # a folder holds one run: no earlier calibration stays
    with progress:
        run = run_train(cache_dir, out, config=config, test_fold=test_fold, cv=cv, augmented=augmented,
                        export_tflite=export == "tflite", on_epoch=on_epoch, on_fold_end=on_fold_end,
                        on_start=on_start, jobs=jobs, on_embed=on_embed, cv_jobs=jobs if cv else 1,
                        backend=backend, scheduler=scheduler)

    summary = run.summary()
    if cv:
        console.print(folds_table(summary["folds"], summary["mean"], summary["std"], seconds=True,
                                  title=f"{config.model}: {len(run.folds)}-fold cross-validation"))
        console.print(per_class_table(run.pooled_metrics(), title="Per-class scores, all held-out folds"))
        console.print(f"mean ± std: {mean_std_line(summary['mean'], summary['std'])}")
        console.print(f"Saved {len(run.folds)} bundles to {out}/fold-0 … fold-{len(run.folds) - 1}")
    else:
        fold = run.folds[0]
        console.print(per_class_table(fold.metrics, title=f"Held-out fold {fold.fold}"))
        console.print(f"Saved bundle to {out}")
    known = _known_classes(run.folds[0].model_dir)
    if known:
        console.print(f"BirdNET's own score weighs in for: {known} (--model-option known=0 turns it off)",
                      soft_wrap=True)
    if target_precision > 0:
        from animalsnd.calibration import calibrate
        from animalsnd.errors import AnimalsndError

        try:
            cal = calibrate(out, target=target_precision, jobs=jobs)
        except AnimalsndError as exc:  # the model is saved; predict then works uncalibrated
            warn(f"not calibrated ({exc}); predict reports every window, as with --no-calibration")
        else:
            missed = [c for c, a in cal.achieved.items() if a["precision"] < target_precision]
            console.print(f"Calibrated on {cal.n_clips} {cal.source}: temperature {cal.temperature:.2f}, thresholds "
                          f"for precision {target_precision:g} -> {out}/calibration.json"
                          + (f" (not reached for: {', '.join(missed)})" if missed else ""), soft_wrap=True)
    if json_out is not None:
        import json

        json_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_out, json.dumps(summary, indent=2) + "\n")
        console.print(f"Wrote {json_out}")


def _known_classes(model_dir) -> str:
    """``class (BirdNET label), ...`` of the classes whose logit carries BirdNET's own score."""
    import json

    try:
        meta = json.loads((Path(model_dir) / "bundle.json").read_text())
    except (OSError, TypeError, ValueError):
        return ""
    section = meta.get("known_classes", {})
    names = ", ".join(f"{c} ({v['label']})" for c, v in section.get("classes", {}).items())
    if names and section.get("scope") == "clips":  # a model with the background class
        names += " when the model names a clip (eval, predict --per-file; not window by window)"
    return names


def _recipe(c) -> str:
    parts = [
        f"model {c.model}", f"{c.optimizer}(lr {c.lr:g}" + (f", wd {c.weight_decay:g})" if c.optimizer == "adamw" else ")"),
        f"loss {c.loss}", f"batch {c.batch_size}", f"epochs ≤ {c.epochs}" if c.early_stopping else f"{c.epochs} epochs",
    ]
    flags = [name for name, on in [
        ("class weights", c.class_weights), ("SpecAugment", c.spec_augment),
        (f"mixup {c.mixup:g}", c.mixup > 0), (f"floor shift ≤ {c.floor_shift:g} dB", c.floor_shift > 0),
        (f"label smoothing {c.label_smoothing:g}", c.label_smoothing > 0),
        (f"early stopping (patience {c.patience})", c.early_stopping), ("LR on plateau", c.lr_schedule),
    ] if on]
    from animalsnd.families import recipe_notes

    flags += recipe_notes(c)  # the model family's: its inputs, shots, fine-tuning
    if c.model_options:
        flags.append(", ".join(f"{k}={v}" for k, v in c.model_options.items()))
    return "[dim]" + ", ".join(parts + flags) + f", val {c.val_fraction:g}, seed {c.seed}[/]"


def _model_options(items: list[str]) -> dict | None:
    import json

    from animalsnd.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--model-option {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out or None
