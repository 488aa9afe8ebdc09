"""Time-to-first-spike codes: ``ttfs``, ``ttfs_dyn_thresh``, ``ttfs_corrective``."""

from snn_code_ttfs.code import TTFS, TTFSCorrective, TTFSDynThresh

__all__ = ["TTFS", "TTFSCorrective", "TTFSDynThresh"]
__version__ = "0.1.0"
