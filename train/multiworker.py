"""`MultiWorkerStrategy`: TensorFlow's multi-worker strategy with the fixes Keras 3's training loop needs.

Kept apart from `train.distribute` so that TensorFlow is imported only when `--strategy multiworker` asks for it.
"""

from __future__ import annotations

import tensorflow as tf


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` with a `reduce` that Keras 3's training loop can call.

    With two or more workers, Keras 3.15's TF trainer fails in two places (keras-team/keras#20585, open):
    - `fit`/`evaluate` first reduce one `(x, y)` batch to build the model; the multi-worker `_reduce_to`
      takes the tuple for one tensor ("Attempt to convert a value (PerReplica...) to a Tensor");
    - every step's logs (scalar loss and metrics per replica) are reduced with `axis=0`, which a scalar
      does not have ("Invalid reduction dimension 0 for input with 0 dimensions").
    This subclass reduces nested values leaf by leaf (as `MirroredStrategy` does) and scalars across replicas
    without an axis, which is what Keras does with them on one machine (the mean over replicas).
    """

    def reduce(self, reduce_op, value, axis):
        if isinstance(value, (tuple, list, dict)):
            return tf.nest.map_structure(lambda v: self.reduce(reduce_op, v, axis), value)
        if axis is not None and self.experimental_local_results(value)[0].shape.rank == 0:
            axis = None
        return super().reduce(reduce_op, value, axis)
