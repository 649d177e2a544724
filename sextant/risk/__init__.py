"""The differentiable risk field (docs/spec.md#risk-field): a log-barrier potential over the hull's dimensions, in
numba."""
