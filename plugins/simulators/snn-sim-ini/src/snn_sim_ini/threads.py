"""How the ini simulator spreads a batch over CPU cores.

TensorFlow parallelises each op over its *intra-op* threads and runs independent ops side
by side on its *inter-op* threads. One time step of a spiking network is a chain of many
medium-sized, memory-bound element-wise ops; split over the intra-op threads, each of them
pays for the hand-over between threads, and on a two-core machine one step of the
reference CNN used about 40% more CPU time than on one thread. So on CPU the simulator
splits the lanes of a batch into independent *groups* (one per core, at least
:data:`MIN_LANES_PER_GROUP` lanes each), runs each op on one thread, and lets the inter-op
threads run the groups' chains side by side.

TensorFlow fixes its thread pools when it starts, so :func:`configure` must run before the
first op (``snn run`` calls it through :meth:`IniSimulator.configure_process` before any
stage). Where TensorFlow already runs with other pools, the simulator keeps one group.
"""

from __future__ import annotations

import os

import attrs

#: Fewest lanes worth a group of their own: below this the fixed cost of an op launch
#: outweighs the work.
MIN_LANES_PER_GROUP = 16


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@attrs.frozen
class ThreadPlan:
    """Lane groups and TensorFlow thread pools for one batch size."""

    #: Independent lane groups per batch.
    groups: int
    #: TensorFlow intra-op threads (per op).
    intra_op: int
    #: TensorFlow inter-op threads (ops run side by side).
    inter_op: int

    @property
    def split(self) -> bool:
        """Whether the batch is split at all (else TensorFlow's default pools are kept)."""
        return self.groups > 1


def plan(threads: int, lanes: int) -> ThreadPlan:
    """Groups and pools for ``lanes`` lanes on ``threads`` cores (0: all available).

    >>> plan(2, 100)
    ThreadPlan(groups=2, intra_op=1, inter_op=2)
    >>> plan(2, 20).split  # too few lanes for two groups
    False
    """
    cores = threads if threads > 0 else available_cores()
    groups = max(1, min(cores, lanes // MIN_LANES_PER_GROUP))
    return ThreadPlan(groups=groups, intra_op=max(1, cores // groups), inter_op=groups)


def configure(p: ThreadPlan) -> None:
    """Set TensorFlow's thread pools for plan ``p`` (:func:`active` tells whether they are).

    Nothing is changed for a plan that does not split. Where TensorFlow has already
    started, its pools cannot change and stay as they are.
    """
    import tensorflow as tf

    if not p.split:
        return
    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(p.intra_op)
        threading.set_inter_op_parallelism_threads(p.inter_op)
    except RuntimeError:  # TensorFlow has started: its pools stay as they are
        pass


def active(p: ThreadPlan) -> bool:
    """Whether TensorFlow's thread pools are those of plan ``p`` (and ``p`` splits)."""
    import tensorflow as tf

    threading = tf.config.threading
    return (
        p.split
        and threading.get_intra_op_parallelism_threads() == p.intra_op
        and threading.get_inter_op_parallelism_threads() == p.inter_op
    )
