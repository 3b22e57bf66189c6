"""Rules measured for birdnet-head on soundscapes: a novelty gate
(a window far from every training clip of its class is not reported), the recording's
own background (a window is not reported when it sounds more like the quietest windows of
its recording than like its class's training clips; adopted as predict's context check)
and the training background clips in its place.

    python benchmarks/open_set_probe.py --cache runs/sc-cache-no0 --model runs/sc-models3/birdnet-head+bgsynth-150-bgn-cv \\
        --test runs/sc-scapes --proxy runs/sc-scapes-proxy-wind --calibration benchmarks/out/soundscape_bench_bgn.json

Inputs are those of ``soundscape_bench.py``'s unseen protocol: its cache without the test
fold, its ``train --cv`` birdnet-head folder, the rain test and wind proxy soundscapes, and
the benchmark's JSON for each split's calibrated temperature and thresholds (the proxy is
scored with ``fold-0`` as the benchmark does). Every 3-s segment is embedded (both views);
a window's decision is its top class after the calibration, when it is not background and
passes its class threshold. A window is a true positive when its class has an event that
overlaps it by at least min(0.5 s, half the event). Scores are per window (precision,
recall over events-in-windows, F1) and the window mAP; they are comparisons between rules,
not the benchmark's own figures (which match events and merge windows).

Similarities are cosines of standardised first-view embeddings (the view every segment
has, screen or not); a class's similarity is the mean of the 3 most similar training clips.

- ``novelty qX``: a window is held back when its distance to its class exceeds the X
  quantile of held-out training clips' distances (each fold against the other folds).
- ``own-bg mM``: a window is held back when its similarity to the 5 quietest windows of
  its recording (RMS, excluding itself) exceeds its class similarity + M; ``own-bg-bg mM``:
  the same with only windows the model calls background as candidates (a dense chorus's
  quiet windows are the chorus).
- ``train-bg mM``: a window is held back when its similarity to the training clips of the
  background class exceeds its class similarity + M (a check that would not need the
  recording's own quiet windows).

Writes benchmarks/out/open_set_probe.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import write_json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--proxy", type=Path, required=True)
    ap.add_argument("--calibration", type=Path, required=True, help="soundscape_bench.py's JSON")
    ap.add_argument("--result", default="birdnet-head +bgsynth-150-bgn calibrated")
    ap.add_argument("--out", default="open_set_probe.json")
    a = ap.parse_args()

    import soundfile as sf
    from sklearn.metrics import average_precision_score

    from animalsnd.annotations import read_raven
    from animalsnd.backbones import birdnet
    from animalsnd.bundle import load_bundle
    from animalsnd.embeddings import cache_fmax, load_embedding_set
    from animalsnd.families.birdnet_predict import BirdnetPredictor, segment_embeddings
    from animalsnd.families.birdnet_workers import SplitEmbedder

    es = load_embedding_set(a.cache, jobs=1)
    classes, y, folds = list(es.classes), np.asarray(es.y), np.asarray(es.folds)
    bg = classes.index("background")
    e1 = es.X[:, : birdnet.EMBED_DIM]
    mu, sd = e1.mean(0), e1.std(0) + 1e-6

    def unit(x):
        z = (x[:, : birdnet.EMBED_DIM] - mu) / sd
        return z / np.linalg.norm(z, axis=1, keepdims=True)

    ztr = unit(es.X)

    def sim(zq, zref):
        return np.sort(zq @ zref.T, axis=1)[:, -3:].mean(1) if len(zref) else np.full(len(zq), -1.0)

    def novelty_tau(q):
        tau = {}
        for c in range(len(classes)):
            d = [1 - sim(ztr[(y == c) & (folds == f)], ztr[(y == c) & (folds != f)]) for f in np.unique(folds)
                 if ((y == c) & (folds == f)).any()]
            tau[c] = float(np.quantile(np.concatenate(d), q))
        return tau

    cal = json.loads(a.calibration.read_text())["results"][a.result]
    fmax = cache_fmax(a.cache)
    embedder = SplitEmbedder(birdnet.BirdNetEmbedder(num_threads=1), 1)
    results = {}
    for split, scapes, bundles in (("test", a.test, sorted(a.model.glob("fold-*"))),
                                   ("proxy", a.proxy, [a.model / "fold-0"])):
        pred = BirdnetPredictor([load_bundle(b) for b in bundles])
        out = cal[split]["output"]
        thr = np.array([out["thresholds"].get(c, 0.0) for c in classes])
        P, T, X, E, file_of = [], [], [], [], []
        for k, wav in enumerate(sorted(Path(scapes).glob("*.wav"))):
            emb, _ = segment_embeddings(wav, embedder, fmax=fmax)
            p = pred.predict_proba(np.concatenate([emb, emb], 1) if pred.dim == 2 * emb.shape[1] else emb)
            events = read_raven(wav.with_name(f"{wav.stem}.Table.1.selections.txt"), [])
            audio, sr = sf.read(wav, dtype="float32", always_2d=True)
            audio, n = audio.mean(1), int(3 * sr)
            for i in range(len(emb)):
                s, e = 3 * i, 3 * i + 3
                T.append({ev.label for ev in events
                          if min(e, ev.end_s) - max(s, ev.start_s) >= min(0.5, (ev.end_s - ev.start_s) / 2)})
                E.append(10 * np.log10(np.mean(audio[i * n:(i + 1) * n] ** 2) + 1e-12))
                file_of.append(k)
            P.append(p)
            X.append(emb)
        P, X, E, file_of = np.concatenate(P), np.concatenate(X), np.array(E), np.array(file_of)
        logits = np.log(np.clip(P, 1e-12, 1)) / out["temperature"]
        P = np.exp(logits - logits.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        z = unit(X)
        SC = np.stack([sim(z, ztr[y == c]) for c in range(len(classes))], 1)
        top = P.argmax(1)
        base = (top != bg) & (P[np.arange(len(P)), top] >= thr[top])
        tp = np.array([classes[c] in t for c, t in zip(top, T)])
        n_pos = sum(len(t) for t in T)
        m_ap = float(np.mean([average_precision_score([classes[c] in t for t in T], P[:, c])
                              for c in range(len(classes)) if c != bg and any(classes[c] in t for t in T)]))

        def own_bg(only_bg: bool) -> np.ndarray:
            s_bg = np.full(len(P), -1.0)
            for f in np.unique(file_of):
                idx = np.flatnonzero(file_of == f)
                cand = idx[top[idx] == bg] if only_bg else idx
                quiet = cand[np.argsort(E[cand])[:5]]
                for i in idx:
                    others = quiet[quiet != i]
                    if len(others):
                        s_bg[i] = float((z[others] @ z[i]).max())
            return s_bg

        rules = {"none": np.ones(len(P), bool)}
        for q in (0.95, 0.98, 0.99):
            tau = novelty_tau(q)
            rules[f"novelty q{q}"] = np.array([1 - SC[i, c] <= tau[c] for i, c in enumerate(top)])
        for name, only in (("own-bg", False), ("own-bg-bg", True)):
            s_bg = own_bg(only)
            for m in (0.0, 0.1, 0.15):
                rules[f"{name} m{m}"] = ~(s_bg > SC[np.arange(len(P)), top] + m)
        for m in (0.0, 0.1):
            rules[f"train-bg m{m}"] = ~(SC[:, bg] > SC[np.arange(len(P)), top] + m)
        res = {"window_map": round(m_ap, 4)}
        for name, keep in rules.items():
            rep = base & keep
            t, f = int(np.sum(rep & tp)), int(np.sum(rep & ~tp))
            prec, rec = t / max(1, t + f), t / max(1, n_pos)
            res[name] = {"tp": t, "fp": f, "precision": round(prec, 4), "recall": round(rec, 4),
                         "f1": round(2 * prec * rec / max(1e-9, prec + rec), 4)}
            print(f"{split} {name}: TP {t} FP {f} P {prec:.3f} R {rec:.3f} F1 {res[name]['f1']:.3f}", flush=True)
        results[split] = res
    embedder.close()
    write_json(a.out, {"cache": str(a.cache), "model": str(a.model), "test": str(a.test), "proxy": str(a.proxy),
                       "results": results})


if __name__ == "__main__":
    main()
