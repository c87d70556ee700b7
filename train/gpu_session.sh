#!/usr/bin/env bash
# One short GPU session: three fine-tuning recipes side by side on one GPU, each a plain `python -m train`
# command under the JAX backend (the GPU machine has JAX and no TensorFlow; nothing can be installed there,
# so keras, optree, namex and mlxtend travel as wheels in .whl/). Each run stops itself after --max-minutes;
# then its state, log and exported model (no optimizer: small enough to bring back) go to $OUT/<run>.tar.
# Stage 1 (three runs from the bundled default) and stage 2 (STAGE=2: two of them go on) are the two calls made;
# STAGE=next is the one prepared for the next session that has a GPU.
# Continue any of them on a CPU with `python -m train --init-from <model.keras> ...` (see docs/training.md).
#
#   bash train/gpu_session.sh                      # on the GPU machine, $OUT set
#   MINUTES=0.3 SEQ=16 BATCH=4 VAL=4 OUT=/tmp/out bash train/gpu_session.sh   # a dry run anywhere
set -u
OUT=${OUT:-out/gpu}; RUNS=${RUNS:-/tmp/gpu-runs}
MINUTES=${MINUTES:-6.5}; SEQ=${SEQ:-4096}; BATCH=${BATCH:-16}; VAL=${VAL:-48}; STAGE=${STAGE:-1}
if [ "$STAGE" = next ]; then GPU_SHARE=0.9; WORKERS=${WORKERS:-8}; LR_PATIENCE=3  # one run has the GPU to itself
else GPU_SHARE=0.3; WORKERS=${WORKERS:-4}; LR_PATIENCE=6; fi                     # two or three runs share it
mkdir -p "$OUT" "$RUNS"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_MEM_FRACTION=$GPU_SHARE PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi -L 2>/dev/null
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" || exit 1

# The bundled default's recipe: free-running after 10 true frames, MSE + 0.1 (1 - SSIM), floor 0.2.
recipe="--motion-features 16 --floor 0.2 --free-running 1 --ssim-weight 0.1 --val-sequences $VAL --epochs 1000
  --patience 1000 --lr-patience $LR_PATIENCE --max-minutes $MINUTES --batch-size $BATCH --data-workers $WORKERS --verbose 2"
train() {  # name, then the run's own flags
  local name=$1; shift
  python3 -m train $recipe "$@" --run-dir "$RUNS/$name" --output "$RUNS/$name/model.keras" > "$OUT/$name.log" 2>&1
  tar cf "$OUT/$name.tar" -C "$RUNS/$name" state.json log.csv model.keras model.json 2>>"$OUT/$name.log"
  echo "$name: exit $?, $(tail -n 1 "$RUNS/$name/log.csv" 2>/dev/null)"
}
if [ "$STAGE" = 1 ]; then  # from the bundled default (as it was before this session), 30-frame sequences
  train g1 --init-from default --filters 32 32 --seq-len 30 --learning-rate 2e-4 --sequences-per-epoch $((2 * SEQ)) --seed 21 &
  train g2 --init-from default --filters 64 64 --seq-len 30 --learning-rate 3e-4 --sequences-per-epoch "$SEQ" --seed 22 &
  train g3 --init-from default --filters 64 64 64 --seq-len 30 --learning-rate 3e-4 --sequences-per-epoch "$SEQ" --seed 23 &
elif [ "$STAGE" = 2 ]; then  # the two best of stage 1 go on (carry runs/gpu/g1 and runs/gpu/g2); g1 on 40 frames
  train g1b --init-from runs/gpu/g1/model.keras --filters 32 32 --seq-len 40 --learning-rate 2e-4 \
    --sequences-per-epoch $((2 * SEQ)) --seed 31 &
  train g2b --init-from runs/gpu/g2/model.keras --filters 64 64 --seq-len 30 --learning-rate 5e-5 \
    --sequences-per-epoch "$SEQ" --seed 32 &
else  # STAGE=next: what the numbers ask for next (docs/training.md): the bundled default's recipe alone on the GPU
  # for the whole session, the plateau callback lowering the rate sooner (MINUTES=9 fits one 10-minute call)
  train next --init-from default --filters 32 32 --seq-len 30 --learning-rate 2e-4 \
    --sequences-per-epoch $((4 * SEQ)) --seed "${SEED:-61}" &
fi
sleep "${PEEK:-150}"; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>/dev/null
wait
