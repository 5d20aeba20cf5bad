"""Shared utilities: input validation, atomic file writes, estimator discovery and checks."""
