"""Time-to-first-spike codes: ``ttfs``, ``ttfs_dyn_thresh``, ``ttfs_corrective``."""

from snn_code_ttfs.code import TTFS

__all__ = ["TTFS"]
__version__ = "0.1.0"
