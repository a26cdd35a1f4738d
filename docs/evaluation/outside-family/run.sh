#!/usr/bin/env bash
# Generate seeds of the outside family, replay each with `pipeline replay` as a user runs it,
# and score them with the evaluator's own scorer.
#   usage: run.sh TREE OUTDIR SEED...   (TREE: the checkout to evaluate; OUTDIR: new folder)
# Writes OUTDIR/sSEED/{events.jsonl,truth.json,alerts.jsonl,summary.json,verdicts.jsonl},
# OUTDIR/db-SEED (the chDB store), OUTDIR/score.txt and OUTDIR/analysis.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TREE=$(cd "${1:?tree}" && pwd); OUT=${2:?outdir}; shift 2
PY=${PY:-$TREE/.venv/bin/python}
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
dirs=()
for seed in "$@"; do
  d="$OUT/s$seed"
  "$PY" "$HERE/gen.py" "$seed" "$d"
  (cd "$d" && PYTHONPATH="$TREE" PIPELINE_PSEUDONYMISATION_KEY=$(openssl rand -hex 32) \
    "$PY" -m pipeline.cli.main replay events.jsonl --alerts-out alerts.jsonl \
    --summary-json summary.json --clickhouse "chdb://$OUT/db-$seed" > replay.out 2> replay.err)
  "$PY" "$HERE/dump_verdicts.py" "$OUT/db-$seed" "$d/verdicts.jsonl"
  dirs+=("$d")
done
"$PY" "$HERE/score.py" "${dirs[@]}" > "$OUT/score.txt"
"$PY" "$HERE/analyze.py" "${dirs[@]}" > "$OUT/analysis.md"
echo "scores: $OUT/score.txt; analysis: $OUT/analysis.md"
