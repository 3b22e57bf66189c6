"""The ablation table: several training variants on the same folds and seeds.

* :mod:`animalsnd.compare.variants` -- the variants (a model, recipe overrides,
  an augmented noise set) and how names resolve to them;
* :mod:`animalsnd.compare.records` -- the key and record of a stored run, and
  the mean ± std over runs;
* :mod:`animalsnd.compare.noise_sets` -- the augmented sets the noise variants train on;
* :mod:`animalsnd.compare.chain_scores` -- which recording chains the runs are scored through;
* :mod:`animalsnd.compare.run` -- :func:`compare`: plan, reuse, train and score.
"""

from animalsnd.compare.records import (
    CompareResult,
    RunInfo,
    _KEY_FIELDS,  # noqa: F401  (the run key fields, read by the tests)
    key_config,
    run_key,
    store_run,
    summarise_runs,
)
from animalsnd.compare.run import EVAL_NOISE_SEED, compare
from animalsnd.compare.variants import (
    DEFAULT_VARIANTS,
    VARIANTS,
    Variant,
    available_variants,
    parse_folds,
    register_variant,
    resolve_variants,
    snr_label,
)

__all__ = [
    "DEFAULT_VARIANTS", "EVAL_NOISE_SEED", "VARIANTS", "CompareResult", "RunInfo", "Variant", "available_variants",
    "compare", "key_config", "parse_folds", "register_variant", "resolve_variants", "run_key", "snr_label",
    "store_run", "summarise_runs",
]
