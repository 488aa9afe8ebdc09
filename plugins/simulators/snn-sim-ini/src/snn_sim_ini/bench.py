"""Speed of one simulated time step against one analog forward pass, in one process.

Run as a script for the reference network (two convolutions and a dense layer on
MNIST-sized input)::

    python -m snn_sim_ini.bench --batch 100 --steps 100
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from snn_core.network import Network


def _best_of(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def step_vs_forward(
    network: Network, x: np.ndarray, steps: int = 100, repeats: int = 5, **cell: Any
) -> dict[str, float]:
    """Seconds per simulated step and per ANN forward pass on the same batch.

    Both run inside one ``tf.function`` loop of ``steps`` iterations (the forward pass on
    an input scaled by ``1 + 1e-7 t`` so TensorFlow cannot hoist it out of the loop). After
    one warm-up run of each (tracing), ``repeats`` timed runs of each alternate, and the
    fastest of each counts. The simulator sizes TensorFlow's thread pools as ``snn run``
    does (:meth:`IniSimulator.configure_process`) if TensorFlow has not started yet; both
    are measured with the same pools.

    Parameters
    ----------
    network
        The (normalized) network.
    x
        A batch ``(batch, *input_shape)``.
    steps
        Simulated steps and forward passes per timed run.
    repeats
        Timed runs of each.
    **cell
        Overrides of :class:`snn_core.config.Cell` (e.g. ``reset="zero"``).

    Returns
    -------
    dict
        ``snn_step_s``, ``ann_forward_s``, ``ratio`` (step / forward) and ``groups``
        (the simulator's lane groups).
    """
    import tensorflow as tf
    from snn_code_rate import TemporalMeanRate

    from snn_core.config import Cell, Simulation
    from snn_sim_ini.ann import build_forward
    from snn_sim_ini.simulator import IniSimulator

    x = np.asarray(x, np.float32)
    sim = IniSimulator()
    simulation = Simulation(duration=steps, batch_size=len(x))
    sim.configure_process(simulation)  # takes effect only if TensorFlow has not started
    sim.prepare(network, TemporalMeanRate(), Cell(**cell), simulation)
    idx = np.arange(len(x))
    forward = build_forward(network)

    @tf.function
    def many(x: tf.Tensor) -> tf.Tensor:
        total = tf.zeros_like(forward(x))
        for t in tf.range(steps):
            total += forward(x * (1.0 + 1e-7 * tf.cast(t, tf.float32)))
        return total

    xt = tf.constant(x)
    sim.run_batch(x, idx)  # warm-up: traces both graphs
    many(xt).numpy()
    # alternate the two, so that a slow spell of a shared machine hits both alike
    snn = ann = float("inf")
    for _ in range(repeats):
        snn = min(snn, _best_of(lambda: sim.run_batch(x, idx), 1) / steps)
        ann = min(ann, _best_of(lambda: many(xt).numpy(), 1) / steps)
    return {"snn_step_s": snn, "ann_forward_s": ann, "ratio": snn / ann, "groups": sim.groups}


def reference_network(seed: int = 0) -> Network:
    """conv16 - conv32 (stride 2) - dense10 on 28 x 28 x 1 input, random normalised weights."""
    from snn_core.network import Conv, Dense, InputLayer, Reshape

    rng = np.random.default_rng(seed)

    def conv(name: str, src: str, cin: int, cout: int, size: int, stride: int) -> Conv:
        return Conv(
            name=name,
            inputs=(src,),
            shape=(size, size, cout),
            kernel=rng.normal(0, 1.0 / np.sqrt(9 * cin), (3, 3, cin, cout)),
            bias=np.zeros(cout),
            strides=(stride, stride),
            padding=((1, 1), (1, 1)),
            dilation=(1, 1),
            activation="relu",
        )

    return Network.from_layers(
        [
            InputLayer(name="input", shape=(28, 28, 1)),
            conv("conv16", "input", 1, 16, 28, 1),
            conv("conv32", "conv16", 16, 32, 14, 2),
            Reshape(name="flatten", inputs=("conv32",), shape=(14 * 14 * 32,)),
            Dense(
                name="dense10",
                inputs=("flatten",),
                shape=(10,),
                weights=rng.normal(0, 0.02, (14 * 14 * 32, 10)),
                bias=np.zeros(10),
                activation="relu",
            ),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Print the step/forward ratio of :func:`reference_network`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    x = np.random.default_rng(1).uniform(0, 1, (args.batch, 28, 28, 1)).astype(np.float32)
    r = step_vs_forward(reference_network(), x, args.steps)
    print(
        f"batch {args.batch}: SNN step {r['snn_step_s'] * 1e3:.3f} ms, "
        f"ANN forward {r['ann_forward_s'] * 1e3:.3f} ms, ratio {r['ratio']:.2f} "
        f"({r['groups']} lane groups)"
    )


if __name__ == "__main__":
    main()
