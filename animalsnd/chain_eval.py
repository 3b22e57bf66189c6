"""``eval --chain``: score held-out clips re-rendered through other recording chains.

Cross-validation folds share a dataset's recording chains, so a model that
tells classes apart by their recorder (bandwidth, codec, noise floor) scores
well in CV and badly on anyone else's recordings. Re-rendering every
evaluated clip through the chains of :mod:`animalsnd.chains` and scoring it
again measures that: each chain's score next to the clean one, per fold model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np

from animalsnd import families
from animalsnd.chains import CHAINS, render
from animalsnd.errors import AudioError
from animalsnd.metrics import SUMMARY_KEYS, condition_summary
from animalsnd.parallel import TaskFailure, run_parallel

__all__ = ["ChainReport", "chain_inputs", "evaluate_chains", "input_spec", "rendered_inputs", "spec_for",
           "spec_inputs"]


def input_spec(bundle) -> families.WaveInput:
    """What decides a bundle's input for one waveform (hashable, picklable): its family's
    :class:`~animalsnd.families.WaveInput`."""
    model = (bundle.meta.get("train") or {}).get("model")
    return families.wave_input(bundle.kind, bundle.cfg, bundle.meta["input"].get("pool", "mean"), model=model)


def spec_for(kind: str, cfg, pool: str = "mean") -> families.WaveInput:
    """:func:`input_spec` of a model of input kind ``kind`` on features ``cfg`` (a FeatureConfig)."""
    return families.wave_input(kind, cfg, pool)


def _chain_one(path: str, index: int, chain_name: str, spec: families.WaveInput, seed: int) -> np.ndarray | str:
    """Worker: the model input of clip ``index`` through ``chain_name``, or why it failed."""
    from animalsnd.audio import load, read_info

    try:
        native = read_info(path).sample_rate
        y, _ = load(path, sr=native)
    except AudioError as exc:
        return str(exc)
    z = render(y, native, CHAINS[chain_name], out_sr=int(spec.sr), seed=seed, index=index)
    return np.asarray(spec(z), dtype=np.float32)


def chain_inputs(paths: list[str], bundle, chain_name: str, *, seed: int = 0, jobs: int = -1,
                 progress=None) -> np.ndarray:
    """Inputs of ``bundle`` for ``paths`` rendered through chain ``chain_name``.

    Returns
    -------
    np.ndarray, shape (len(paths), *bundle.input_shape)

    Raises
    ------
    AudioError
        A clip can no longer be read.
    """
    return spec_inputs(paths, input_spec(bundle), chain_name, shape=bundle.input_shape, seed=seed, jobs=jobs,
                       progress=progress)


def spec_inputs(paths: list[str], spec: families.WaveInput, chain_name: str, *, shape: tuple = (0,), seed: int = 0,
                jobs: int = -1, progress=None) -> np.ndarray:
    """:func:`chain_inputs` for the inputs :func:`spec_for` describes (``shape``: one input's, for no clips)."""
    X, ok, bad = rendered_inputs(paths, spec, chain_name, shape=shape, seed=seed, jobs=jobs, progress=progress)
    if bad:
        raise AudioError(f"{len(bad)} of {len(paths)} evaluation clips could not be rendered (first: {bad[0]})")
    return X


def rendered_inputs(paths: list[str], spec: families.WaveInput, chain_name: str, *, shape: tuple = (0,),
                    seed: int = 0, jobs: int = -1, progress=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The inputs of the clips that rendered through ``chain_name``: ``(X, ok, problems)``, with
    ``ok`` a boolean mask over ``paths`` and one ``"path: reason"`` per clip that did not."""
    tasks = [(str(p), i, chain_name, spec, int(seed)) for i, p in enumerate(paths)]
    results = run_parallel(_chain_one, tasks, jobs=jobs, progress=progress)
    ok = np.array([not isinstance(r, (str, TaskFailure)) for r in results], dtype=bool)
    bad = [f"{paths[i]}: {r.error}" if isinstance(r, TaskFailure) else r  # an AudioError names its file
           for i, r in enumerate(results) if not ok[i]]
    good = [r for r, k in zip(results, ok) if k]
    return (np.stack(good) if good else np.zeros((0, *shape), np.float32)), ok, bad


@dataclass
class ChainReport:
    """Scores of every bundle of a report, clean and through each chain.

    ``scores[name][i]`` holds accuracy, macro and weighted F1 of run ``i``;
    names are ``"clean"`` and the chain names.
    """

    chains: list[str]
    scores: dict[str, list[dict]]
    problems: list[str] = field(default_factory=list)  # one line per chain with clips that did not render

    def summary(self) -> dict:
        """``{"clean": {...}, "8k": {...}, ...}`` with the mean (and, for a CV
        folder, ``std`` and ``folds``) of accuracy, macro and weighted F1, plus
        ``worst_drop``: the largest loss in accuracy against clean."""
        out = condition_summary(self.scores)
        clean = out["clean"]["accuracy"]
        out["worst_drop"] = max((clean - out[c]["accuracy"] for c in self.chains), default=0.0)
        return out


def evaluate_chains(report, chains: list[str], *, seed: int = 0, jobs: int = -1, batch_size: int = 64,
                    progress=None) -> ChainReport:
    """Score each bundle of an :class:`~animalsnd.evaluate.EvalReport` again with
    its clips re-rendered through every chain (see the module notes)."""
    from animalsnd.ensemble import load_model
    from animalsnd.evaluate import evaluate_arrays

    bundles = [load_model(r.path) for r in report.runs]
    scores: dict[str, list[dict]] = {"clean": [{k: r.result.metrics[k] for k in SUMMARY_KEYS}
                                               for r in report.runs]}
    keys = {(id(r.data), input_spec(b)) for r, b in zip(report.runs, bundles)}
    total, done = len(chains) * len(keys), 0
    rendered: dict[tuple, np.ndarray] = {}
    for c in chains:
        scores[c] = []
    problems: list[str] = []
    for i, (run, b) in enumerate(zip(report.runs, bundles)):
        for c in chains:
            spec = input_spec(b)
            key = (id(run.data), spec, c)
            if key not in rendered:
                X, ok, bad = rendered_inputs(list(run.data.paths), spec, c, shape=b.input_shape,
                                             seed=seed, jobs=jobs)
                if not ok.any() and len(ok):
                    raise AudioError(f"no evaluation clip could be rendered through chain {c!r} (first: {bad[0]})")
                if bad:  # scored without them; one line per chain and data set
                    problems.append(f"{c}: {len(bad)} of {len(ok)} clips could not be rendered and were scored "
                                    f"without them (first: {bad[0]})")
                rendered[key] = (X, ok)
                done += 1
                if progress is not None:
                    progress(done, total)
            X, ok = rendered[key]
            res = evaluate_arrays(b, X, np.asarray(run.data.y)[ok], batch_size=batch_size,
                                  animals_only=report.animals_only, adapt=report.adapt)
            scores[c].append({k: res.metrics[k] for k in SUMMARY_KEYS})
        b._model = None
        later = {id(r.data) for r in report.runs[i + 1:]}
        for key in [k for k in rendered if k[0] not in later]:
            del rendered[key]
    return ChainReport(chains=list(chains), scores=scores, problems=problems)


def chain_labels(chains: list[str]) -> dict[str, str]:
    """Human-readable description of each chain, for tables and figures."""
    return {c: CHAINS[c].describe() for c in chains}
