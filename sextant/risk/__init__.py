"""The differentiable risk field (SPEC §6): a log-barrier potential over the hull's dimensions, in numba."""
