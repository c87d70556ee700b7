"""The lab: benchmarks, oracles and probes that measure the product (`predictor`, `train`) and are not part of it.

Each runs from a checkout (`tools` is not installed with the package):

    python -m tools.bench     # rollout speed: the default against the Keras example's procedure, per part
    python -m tools.oracle    # the rollout told each digit's true step: what knowing it is worth
    python -m tools.steps     # how far a digit's past steps and the walls predict its next one; a frames-only tracker
    python -m tools.bound     # what the task itself leaves uncertain: `predictor.bound` over many sequences
    bash tools/gpu_session.sh # one short GPU session of `python -m train` runs under JAX
"""
