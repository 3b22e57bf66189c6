"""Apply a trained model to recordings of any length.

* :mod:`animalsnd.predict.run` -- :func:`predict`: inputs, the model family's
  streaming predictor, workers, progress;
* :mod:`animalsnd.predict.detections` -- window probabilities to rows
  (thresholds, top-k, unknown, merged runs, one row per file).

The log-Mel windows a predictor streams are :mod:`animalsnd.windows`; each
family's predictor is its own (:mod:`animalsnd.families`).
"""

from animalsnd.predict.detections import UNKNOWN, Detection, detections
from animalsnd.predict.run import (
    FileResult,
    PredictOptions,
    PredictRun,
    collect_inputs,
    default_min_support,
    load_predictor,
    option_rows,
    predict,
    predict_file,
    window_plan,
    with_calibration,
)
from animalsnd.windows import WindowFeatures, WindowPlan, check_window_hop, scan, window_features

__all__ = [
    "UNKNOWN", "Detection", "FileResult", "PredictOptions", "PredictRun", "WindowFeatures", "WindowPlan",
    "check_window_hop", "collect_inputs", "default_min_support", "detections", "load_predictor", "option_rows",
    "predict", "predict_file", "scan", "window_features", "window_plan", "with_calibration",
]
