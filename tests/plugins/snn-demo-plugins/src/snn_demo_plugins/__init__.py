"""A complete, minimal third-party plugin package for snn (used by snn's tests and docs)."""
