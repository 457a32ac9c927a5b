#!/usr/bin/env bash
# The GPU measurement, in one call on a lent accelerator machine (issue 15):
#   0. if CAMPAIGN_MINUTES > 0: `sweeps.campaign` for that long, resuming every step from the copy of
#      results/ placed in $OUT/results (what it adds comes back there: copy it into results/); only the
#      steps named in CAMPAIGN_ONLY when it is set (e.g. CAMPAIGN_ONLY=table1-paper);
#   1. Figure 3 at paper scale (`sweeps.figure3 --preset paper`, unmodified), resumed from
#      results/figure3-paper (copied to $OUT first), seed after seed, for at most $FIG3_SECONDS; every
#      finished seed (50 networks, one chunk) is written as it finishes (FIG3_SECONDS=0 skips it);
#   2. the throughput benchmark at K = 1, 8, 32, 200 for at most $BENCH_SECONDS (0 skips it);
#   3. if DIAGNOSTICS_MINUTES > 0: the labelled diagnostics of Table 1's gap (`sweeps.campaign
#      --diagnostics`), resuming from the copy of results/ in $OUT/results, for that long;
#   4. if ENGINE_SECONDS > 0: XLA's memory plan per network at K = 1, 8, 32, 200 and the sparse-inference
#      benchmark, on the GPU, for at most that long each;
#   5. if FUSED_SECONDS > 0: the fused Pallas SGD step against XLA's (`benchmarks.fused_step $FUSED_ARGS`:
#      K = 200, 1, 32, 8, blocks of 32 and 64, IEEE and 3xTF32 products, pipelined and single steps by
#      default: 9 programs per K) for at most that long (about 400 s), into $OUT/fused;
#   6. if PRECOMPILE_SECONDS > 0: a chunk's bucket programs compiled one after another against side by
#      side (`benchmarks.precompile $PRECOMPILE_ARGS`: K = 50, Figure 3's chunk, 2 rounds by default,
#      about 4 x 60 s on the H200 plus process starts) for at most that long, into $OUT/precompile.
# Installs nothing: the machine's python3 has jax, flax, optax, orbax, matplotlib. MNIST is read from
# .device/data/mnist (the four gzipped IDX files, ~11 MB; prepare it with `benchmarks/prepare_device.sh`
# and carry `.device`). Everything is written under $OUT; a step that fails or runs out of time leaves
# what it finished and the next step still runs. A device call brings back at most 8 files, none
# deeper than $OUT/a/b/: the script ends by packing all of $OUT into $OUT/on_device.tgz, leaving only
# it and the top-level logs (unpack it here and copy its folders into results/).
#
#   OUT=/tmp/od FIG3_PRESET=quick FIG3_SECONDS=60 BENCH_ARGS="--tiny --k 1 2" bash benchmarks/on_device.sh
set -u
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that receives the results}"
FIG3_PRESET=${FIG3_PRESET:-paper}
FIG3_SECONDS=${FIG3_SECONDS:-270}
FIG3_CHUNK=${FIG3_CHUNK:-50}
BENCH_SECONDS=${BENCH_SECONDS:-180}
BENCH_ARGS=${BENCH_ARGS:-"--k 1 8 32 200 --steps 100 --repeats 3 --methods engine loop --timeout 75 --rounds 1"}
export PYTHONPATH="$PWD:$PWD/.device/pylib${PYTHONPATH:+:$PYTHONPATH}"
export DEEP_SPARSE_DATA="$PWD/.device/data"
mkdir -p "$OUT"

{
  date -u; git rev-parse HEAD 2>/dev/null; nvidia-smi 2>&1 | head -15
  python3 -c "import jax, flax, optax, orbax.checkpoint, numpy; print('jax', jax.__version__, jax.devices())"
} > "$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"

# measure NAME SECONDS MODULE ARGS...: one optional benchmark (SECONDS=0 skips it), cut at SECONDS, its
# numbers in $OUT/NAME and its log in $OUT/NAME.log
measure() {
  local name=$1 seconds=$2 module=$3
  shift 3
  [ "$seconds" = 0 ] && return 0
  timeout --signal=INT --kill-after=20 "$seconds" python3 -m "$module" "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
  echo "$name: exit $?" | tee -a "$OUT/$name.log"; tail -20 "$OUT/$name.log"
}

CAMPAIGN_MINUTES=${CAMPAIGN_MINUTES:-0}
if [ "$CAMPAIGN_MINUTES" != 0 ]; then
  cp -r results "$OUT/results"
  # shellcheck disable=SC2086
  python3 -m sweeps.campaign --root "$OUT" --budget-minutes "$CAMPAIGN_MINUTES" ${CAMPAIGN_ONLY:+--only $CAMPAIGN_ONLY} \
    > "$OUT/campaign.log" 2>&1
  echo "campaign: exit $?" | tee -a "$OUT/campaign.log"; grep "^campaign" "$OUT/campaign.log"
fi

if [ -d "results/figure3-$FIG3_PRESET" ] && [ ! -e "$OUT/figure3-$FIG3_PRESET" ]; then
  cp -r "results/figure3-$FIG3_PRESET" "$OUT/figure3-$FIG3_PRESET"  # resume what is recorded
fi
started=$(date +%s)
[ "$FIG3_SECONDS" != 0 ] && timeout --signal=INT --kill-after=20 "$FIG3_SECONDS" python3 -m sweeps.figure3 --preset "$FIG3_PRESET" \
  --out "$OUT/figure3-$FIG3_PRESET" --chunk-size "$FIG3_CHUNK" --checkpoint-every 0 --no-progress --resume \
  > "$OUT/figure3.log" 2>&1
echo "figure3: exit $? after $(( $(date +%s) - started )) s" | tee -a "$OUT/figure3.log"
tail -5 "$OUT/figure3.log"

started=$(date +%s)
# shellcheck disable=SC2086
[ "$BENCH_SECONDS" != 0 ] && timeout --signal=INT --kill-after=20 "$BENCH_SECONDS" python3 -m benchmarks.sweep_throughput $BENCH_ARGS \
  --out "$OUT/bench" > "$OUT/bench.log" 2>&1
echo "benchmark: exit $? after $(( $(date +%s) - started )) s" | tee -a "$OUT/bench.log"
tail -25 "$OUT/bench.log"
DIAGNOSTICS_MINUTES=${DIAGNOSTICS_MINUTES:-0}
if [ "$DIAGNOSTICS_MINUTES" != 0 ]; then
  [ -e "$OUT/results" ] || cp -r results "$OUT/results"
  python3 -m sweeps.campaign --diagnostics --root "$OUT" --budget-minutes "$DIAGNOSTICS_MINUTES" \
    > "$OUT/diagnostics.log" 2>&1
  echo "diagnostics: exit $?" | tee -a "$OUT/diagnostics.log"; grep "^campaign" "$OUT/diagnostics.log"
fi

ENGINE_SECONDS=${ENGINE_SECONDS:-0}
if [ "$ENGINE_SECONDS" != 0 ]; then
  timeout --signal=INT --kill-after=20 "$ENGINE_SECONDS" python3 -m benchmarks.memory_plan --k 1 8 32 200 \
    --out "$OUT/engine" > "$OUT/engine.log" 2>&1
  echo "memory plan: exit $?" | tee -a "$OUT/engine.log"
  timeout --signal=INT --kill-after=20 "$ENGINE_SECONDS" python3 -m benchmarks.sparse_inference \
    --out "$OUT/engine" >> "$OUT/engine.log" 2>&1
  echo "sparse inference: exit $?" | tee -a "$OUT/engine.log"; tail -20 "$OUT/engine.log"
fi

FUSED_SECONDS=${FUSED_SECONDS:-0}
# K = 200 first: the JSON is rewritten after every K, so a run cut short keeps the number that matters most
FUSED_ARGS=${FUSED_ARGS:-"--k 200 1 32 8 --steps 50 --rounds 5 --blocks 32 64 --kernel-precisions engine tf32x3 --schedules pipelined step"}
# shellcheck disable=SC2086
measure fused "$FUSED_SECONDS" benchmarks.fused_step $FUSED_ARGS

PRECOMPILE_SECONDS=${PRECOMPILE_SECONDS:-0}
PRECOMPILE_ARGS=${PRECOMPILE_ARGS:-"--k 50 --rounds 2"}
# shellcheck disable=SC2086
measure precompile "$PRECOMPILE_SECONDS" benchmarks.precompile $PRECOMPILE_ARGS

# the raw numbers sit three folders down, deeper than what comes back from a device call: lift them
cp "$OUT"/bench/benchmarks/results/*.json "$OUT"/bench/benchmarks/results/*.png "$OUT/bench/" 2>/dev/null
# a call brings back 8 files at most (the 2026-11-29 call lost its results.json and chunks that way):
# everything goes into one archive, and only it and the top-level logs stay in $OUT
tar -czf /tmp/on_device.tgz -C "$OUT" . && find "$OUT" -mindepth 1 -maxdepth 1 ! -name '*.log' \
  ! -name environment.txt -exec rm -rf {} + && mv /tmp/on_device.tgz "$OUT/on_device.tgz"
ls -la "$OUT"
