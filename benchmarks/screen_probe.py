"""What the double-speed view is worth in detection: birdnet-head with fewer second views.

    python benchmarks/screen_probe.py MODEL_DIR TEST_SCAPES PROXY_SCAPES [--modes default none tau0.3 conf0.9]

MODEL_DIR is a ``train --cv`` birdnet-head folder of ``soundscape_bench.py``'s
unseen protocol (its bundles carry screens); the test soundscapes are
scanned with the whole folder and its calibration, the proxy with
``fold-0`` and the out-of-fold calibration of the other folds, as the
benchmark does. Each mode replaces the screens' rule for which segments get
the double-speed view (every other segment is scored by the screen, a
logistic regression on the as-recorded view):

``default``  the stored rule (background probability below the stored threshold)
``none``     no segment: one view everywhere
``tauX``     background probability below X
``confX``    the stored rule, and no confident animal either (best animal probability below X)

One BirdNET interpreter (the rule must hold in every process). Writes
benchmarks/out/screen_probe.json.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from _common import write_json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("test", type=Path)
    ap.add_argument("proxy", type=Path)
    ap.add_argument("--modes", nargs="*", default=["default", "none", "tau0.3", "conf0.9", "conf0.97"])
    ap.add_argument("--out", default="screen_probe.json")
    a = ap.parse_args()
    os.cpu_count = lambda: 1  # one process: the patched rule below holds for every segment

    import soundscape_bench as sb

    from animalsnd.detection import evaluate_detection
    from animalsnd.families import birdnet_screen as S
    from animalsnd.predict import PredictOptions

    stored = S.Screen.live
    mode = {"m": "default"}

    def live(self, first):
        m = mode["m"]
        if m == "default":
            return stored(self, first)
        p = self.proba(self.pooled(first))
        if m == "none":
            return np.zeros(len(first), bool)
        if m.startswith("tau"):
            return p[:, self.background] < float(m[3:])
        if m.startswith("conf"):
            best = np.delete(p, self.background, axis=1).max(axis=1)
            return (p[:, self.background] < self.tau) & (best < float(m[4:]))
        raise SystemExit(f"unknown mode {m!r}")

    S.Screen.live = live
    cal = sb.proxy_calibration(a.model)
    proxy_opts = PredictOptions(calibrated=False, temperature=cal.temperature,
                                thresholds=tuple(sorted(cal.thresholds.items())))
    results = {}
    for m in a.modes:
        mode["m"] = m
        for split, scapes, model, opts in [("test", a.test, a.model, PredictOptions()),
                                           ("proxy", a.proxy, a.model / "fold-0", proxy_opts)]:
            s = evaluate_detection(model, scapes, scapes, jobs=1, options=opts).summary()
            o = s["overall"]
            results.setdefault(m, {})[split] = {"map": s["map"], "overall": o, "screen": s["output"].get("screen")}
            print(f"{m} {split}: mAP {s['map']:.3f} P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f}; "
                  f"second view {s['output'].get('screen')}", flush=True)
        write_json(a.out, {"model": str(a.model), "test": str(a.test), "proxy": str(a.proxy), "results": results})


if __name__ == "__main__":
    main()
