#!/usr/bin/env bash
# The ablation table on animal-sounds-10: every variant on the same folds and
# seeds, trained with wind noise where the variant needs noise, scored clean
# and with rain mixed in at 10 and 0 dB.
#
#   nice -n 5 benchmarks/compare_bench.sh                  # the full protocol: 5 folds x 2 seeds
#   PHASES="cnn1d" SEEDS=1 benchmarks/compare_bench.sh     # only the 1D-CNN family, one seed
#   PHASES=report REPORT_FOLDS=3 REPORT_SEEDS=1 benchmarks/compare_bench.sh
#
# Phases: cnn1d (baseline, simple-noise and the enhanced 1D CNN with its
# ablations), mel (alexnet-mel, transformer-mel), vector (stats-mlp and
# birdnet-head, the models beyond the study, tabulated on their own in
# docs/compare_vector.md; birdnet-head needs the birdnet extra), report. Runs are stored in the
# cache (CACHE/compare/runs), so every phase resumes where it stopped and later
# phases add to the same store. `report` trains nothing: it tabulates what is
# stored for REPORT_FOLDS x REPORT_SEEDS into docs/compare.md,
# docs/figures/compare_*.png and benchmarks/out/compare.json; missing runs are
# counted in the table's "runs" column.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-python}
DATA=${ANIMALSND_REAL_DATA:-/work/shared/data/animal-sounds-10}
NOISE=${ANIMALSND_NOISE_DIR:-/work/shared/data/noise}
CACHE=${CACHE:-benchmarks/out/cache-animal-sounds-10}
PHASES=${PHASES:-"cnn1d mel vector report"}
FOLDS=${FOLDS:-all}
SEEDS=${SEEDS:-2}
REPORT_FOLDS=${REPORT_FOLDS:-$FOLDS}
REPORT_SEEDS=${REPORT_SEEDS:-$SEEDS}
CNN="baseline,simple-noise,enhanced,enhanced-no-noise,enhanced-no-specaugment,enhanced-no-class-weights"
MEL="transformer-mel,alexnet-mel"
VECTOR="stats-mlp,birdnet-head"
# the order of the study's table, then the ablations
ALL="baseline,simple-noise,alexnet-mel,transformer-mel,enhanced,enhanced-no-noise,enhanced-no-specaugment,enhanced-no-class-weights"
COMMON=(--noise "$NOISE/wind" --eval-noise "$NOISE/rain" --eval-snr 10,0)

if [ ! -d "$DATA" ]; then echo "skipped: $DATA not present"; exit 0; fi
$PY -m animalsnd prepare "$DATA" --cache "$CACHE"

for phase in $PHASES; do
  echo "== phase $phase ($(date +%H:%M:%S))"
  case $phase in
    cnn1d)  $PY -m animalsnd compare "$CACHE" --variants "$CNN" "${COMMON[@]}" --folds "$FOLDS" --seeds "$SEEDS" ;;
    mel)    $PY -m animalsnd compare "$CACHE" --variants "$MEL" "${COMMON[@]}" --folds "$FOLDS" --seeds "$SEEDS" ;;
    vector) $PY -m animalsnd compare "$CACHE" --variants "$VECTOR" "${COMMON[@]}" --folds "$FOLDS" --seeds "$SEEDS" \
              --out docs/compare_vector.md --json benchmarks/out/compare_vector.json ;;
    report)
      $PY -m animalsnd compare "$CACHE" --variants "$ALL" "${COMMON[@]}" --folds "$REPORT_FOLDS" \
        --seeds "$REPORT_SEEDS" --report-only \
        --out docs/compare.md --plots docs/figures --json benchmarks/out/compare.json ;;
    *) echo "unknown phase $phase"; exit 2 ;;
  esac
done
