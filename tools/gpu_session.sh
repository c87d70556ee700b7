#!/usr/bin/env bash
# One short GPU session: fine-tuning recipes side by side on one GPU, each a plain `python -m train` command under
# the JAX backend (the GPU machine has JAX and no TensorFlow; nothing can be installed there, so keras, optree,
# namex and mlxtend travel as wheels in .whl/). Each run stops itself after --max-minutes; then its state, log and
# exported model (no optimizer: small enough to bring back) go to $OUT/<run>.tar.
# STAGE=1 and 2 ran in the first GPU session (batch 16), STAGE=3 and 4 in the second (batch 64/128: stages 7
# and 8), STAGE=5 and 6 in the third (stages 9-10: the bundled default); STAGE=next is the one prepared for the
# next session that has a GPU.
# Continue any of them on a CPU with `python -m train --init-from <model.keras> ...` (see docs/training.md).
#
#   STAGE=3 MINUTES=7.2 SEQ=3072 VAL=96 bash tools/gpu_session.sh    # on the GPU machine, $OUT set
#   STAGE=3 MINUTES=0.3 SEQ=2 B1=4 B2=8 VAL=4 OUT=/tmp/out bash tools/gpu_session.sh   # a dry run anywhere
set -u
OUT=${OUT:-out/gpu}; RUNS=${RUNS:-/tmp/gpu-runs}
MINUTES=${MINUTES:-6.5}; SEQ=${SEQ:-4096}; BATCH=${BATCH:-16}; VAL=${VAL:-48}; STAGE=${STAGE:-1}
case $STAGE in  # how many runs share the GPU, threads drawing batches per run, ReduceLROnPlateau patience
  1|2) GPU_SHARE=0.3; WORKERS=${WORKERS:-4}; LR_PATIENCE=6 ;;    # two or three runs, batch 16
  3) GPU_SHARE=0.45; WORKERS=${WORKERS:-6}; LR_PATIENCE=3 ;;  # two runs, large batches
  next) GPU_SHARE=0.3; WORKERS=${WORKERS:-5}; LR_PATIENCE=3 ;;  # three runs, large batches
  *) GPU_SHARE=0.9; WORKERS=${WORKERS:-10}; LR_PATIENCE=2 ;;     # one run has the GPU to itself
esac
mkdir -p "$OUT" "$RUNS"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_MEM_FRACTION=$GPU_SHARE PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi -L 2>/dev/null
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" || exit 1

# The bundled networks' recipe: free-running after 10 true frames, MSE + 0.1 (1 - SSIM), floor 0.2 (a network's
# rollout options, digit layers and experts, are `python -m train.export`'s, on the CPU afterwards).
recipe="--motion-features 16 --floor 0.2 --free-running 1 --ssim-weight 0.1 --val-sequences $VAL --patience 1000
  --max-minutes $MINUTES --data-workers $WORKERS --verbose 2"
plateau="--epochs 1000 --lr-patience $LR_PATIENCE"  # stages 1-4: run until --max-minutes, cut the rate on plateaus
train() {  # name, then the run's own flags
  local name=$1; shift
  python3 -m train $recipe "$@" --run-dir "$RUNS/$name" --output "$RUNS/$name/model.keras" > "$OUT/$name.log" 2>&1
  tar cf "$OUT/$name.tar" -C "$RUNS/$name" state.json log.csv model.keras model.json 2>>"$OUT/$name.log"
  echo "$name: exit $?, $(tail -n 1 "$RUNS/$name/log.csv" 2>/dev/null)"
}
if [ "$STAGE" = 1 ]; then  # from the bundled default (as it was before this session), 30-frame sequences
  train g1 $plateau --init-from default --filters 32 32 --seq-len 30 --batch-size "$BATCH" --learning-rate 2e-4 --sequences-per-epoch $((2 * SEQ)) --seed 21 &
  train g2 $plateau --init-from default --filters 64 64 --seq-len 30 --batch-size "$BATCH" --learning-rate 3e-4 --sequences-per-epoch "$SEQ" --seed 22 &
  train g3 $plateau --init-from default --filters 64 64 64 --seq-len 30 --batch-size "$BATCH" --learning-rate 3e-4 --sequences-per-epoch "$SEQ" --seed 23 &
elif [ "$STAGE" = 2 ]; then  # the two best of stage 1 go on (carry runs/gpu/g1 and runs/gpu/g2); g1 on 40 frames
  train g1b $plateau --init-from runs/gpu/g1/model.keras --filters 32 32 --seq-len 40 --batch-size "$BATCH" --learning-rate 2e-4 \
    --sequences-per-epoch $((2 * SEQ)) --seed 31 &
  train g2b $plateau --init-from runs/gpu/g2/model.keras --filters 64 64 --seq-len 30 --batch-size "$BATCH" --learning-rate 5e-5 \
    --sequences-per-epoch "$SEQ" --seed 32 &
elif [ "$STAGE" = 3 ]; then  # from the bundled default (stage 6): more sequences per minute. Stages 1-2 ran batch
  # 16 and the GPU waited on kernel launches (4x the filters cost 1.3x the time), so a 4-8x batch costs little more
  # per step. Two batch sizes, learning rates scaled by about the square root; plateaus cut the rate by 0.3x.
  train n64 $plateau --init-from default --filters 32 32 --seq-len 30 --batch-size "${B1:-64}" --learning-rate 3e-4 \
    --lr-factor 0.3 --sequences-per-epoch $((8 * SEQ)) --seed 61 &
  train n128 $plateau --init-from default --filters 32 32 --seq-len 30 --batch-size "${B2:-128}" --learning-rate 4.5e-4 \
    --lr-factor 0.3 --sequences-per-epoch $((8 * SEQ)) --seed 62 &
elif [ "$STAGE" = 4 ]; then  # n128 goes on alone from the rate its plateau had reached (carry runs/gpu/n128)
  train n128c $plateau --init-from runs/gpu/n128/model.keras --filters 32 32 --seq-len 30 --batch-size "${B2:-128}" \
    --learning-rate 1.35e-4 --lr-factor 0.3 --sequences-per-epoch $((8 * SEQ)) --seed 63 &
elif [ "$STAGE" = 5 ]; then  # stage 9 (ran as STAGE=next, run "next"): stage 8's recipe from the bundled default
  # (stage 8), alone on the GPU for a whole call, with the rate on a cosine from 2e-4 to 1e-5 over EPOCHS epochs
  # instead of plateau cuts (each cut paid at once in stages 7-8). An H200 did an epoch of 8 * SEQ = 24,576
  # sequences in 17 s (the first 43 s): MINUTES=8.6 EPOCHS=27 SEQ=3072 VAL=96 is 663,552 sequences in 7.9 minutes.
  train next --epochs "${EPOCHS:-27}" --lr-schedule cosine --init-from default --filters 32 32 --seq-len 30 \
    --batch-size "${B2:-128}" --learning-rate 2e-4 --sequences-per-epoch $((8 * SEQ)) --seed 71 &
elif [ "$STAGE" = 6 ]; then  # stage 10: "next" again from a small restart, a cosine 4e-5 -> 2e-6 (MINUTES=3.4
  # EPOCHS=11; carry runs/gpu/next, or run it on the machine that just ran STAGE=5 with INIT=$RUNS/next/model.keras)
  train next2 --epochs "${EPOCHS:-11}" --lr-schedule cosine --init-from "${INIT:-runs/gpu/next/model.keras}" \
    --filters 32 32 --seq-len 30 --batch-size "${B2:-128}" --learning-rate 4e-5 --sequences-per-epoch $((8 * SEQ)) \
    --seed 72 &
else  # STAGE=next: prepared for the next session with a GPU: issue 27's last bar, one digit <= 20 (reporting 21.7;
  # `whole-frames` alone 21.2, and no inference trick gave more than 0.45: docs/notes/training-log.md). Every digit
  # layer the split makes, and a lone digit, is one digit, which `whole-frames` (trained on two) rolls out. o4 and o12:
  # it on one digit (truncated, 3.6 px/frame) at lr 4e-5 and 1.2e-4; t4: it on two digits at 4e-5, the control (does
  # one-digit data help, or only more training?). Cosine, batch 128, 30 frames, the same batches (seed 91), three runs
  # sharing the GPU: MINUTES=8 EPOCHS=9 SEQ=3072 VAL=96 is about 220,000 sequences each. Back on the CPU, each as the
  # default's network for its digit layers (selection seeds 11 / 13; `tools.routing` or a swapped export).
  for run in "o4 1 4e-5" "o12 1 1.2e-4" "t4 2 4e-5"; do
    set -- $run
    train "$1" --epochs "${EPOCHS:-9}" --lr-schedule cosine --init-from "${INIT:-whole-frames}" --filters 32 32 \
      --seq-len 30 --digits "$2" --batch-size "${B2:-128}" --learning-rate "$3" --sequences-per-epoch $((8 * SEQ)) \
      --ema 0.999 --seed 91 &
  done
fi
sleep "${PEEK:-150}"; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>/dev/null
wait
