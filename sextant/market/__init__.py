"""The market that the engine and research both trade on: the instrument, the seeded market model, the features
of the ContextWindow, and the BacktestEngine venue."""
