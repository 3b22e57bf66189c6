#!/usr/bin/env bash
# The ablation table on animal-sounds-10: every variant on the same 5 folds and
# seeds, trained with wind noise, scored clean and with rain at 10 and 0 dB.
#
#   nice -n 5 benchmarks/compare_bench.sh            # all phases
#   PHASES="cnn1d" benchmarks/compare_bench.sh       # only the 1D-CNN family
#
# Runs are stored in the cache (CACHE/compare/runs), so every phase resumes and
# later phases add to the same store. The last step trains nothing: it
# tabulates whatever is stored into docs/compare.md, docs/figures/compare_*.png
# and benchmarks/out/compare.json.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-python}
DATA=${ANIMALSND_REAL_DATA:-/work/shared/data/animal-sounds-10}
NOISE=${ANIMALSND_NOISE_DIR:-/work/shared/data/noise}
CACHE=${CACHE:-benchmarks/out/cache-animal-sounds-10}
PHASES=${PHASES:-"cnn1d-seed0 cnn1d mel-seed0 mel report"}
CNN="baseline,simple-noise,enhanced,enhanced-no-noise,enhanced-no-specaugment,enhanced-no-class-weights"
MEL="alexnet-mel,transformer-mel"
# the order of the study's table, then the ablations
ALL="baseline,simple-noise,alexnet-mel,transformer-mel,enhanced,enhanced-no-noise,enhanced-no-specaugment,enhanced-no-class-weights"
COMMON=(--noise "$NOISE/wind" --eval-noise "$NOISE/rain" --eval-snr 10,0 --folds all)

if [ ! -d "$DATA" ]; then echo "skipped: $DATA not present"; exit 0; fi
$PY -m animalsnd prepare "$DATA" --cache "$CACHE"

for phase in $PHASES; do
  echo "== phase $phase ($(date +%H:%M:%S))"
  case $phase in
    cnn1d-seed0) $PY -m animalsnd compare "$CACHE" --variants "$CNN" "${COMMON[@]}" --seeds 1 ;;
    cnn1d)       $PY -m animalsnd compare "$CACHE" --variants "$CNN" "${COMMON[@]}" --seeds 2 ;;
    mel-seed0)   $PY -m animalsnd compare "$CACHE" --variants "$MEL" "${COMMON[@]}" --seeds 1 ;;
    mel)         $PY -m animalsnd compare "$CACHE" --variants "$MEL" "${COMMON[@]}" --seeds 2 ;;
    report)      $PY -m animalsnd compare "$CACHE" --variants "$ALL" "${COMMON[@]}" --seeds 2 --report-only \
                   --out docs/compare.md --plots docs/figures --json benchmarks/out/compare.json ;;
    *) echo "unknown phase $phase"; exit 2 ;;
  esac
done
