"""Verifiable trust (docs/trust.md): ERC-8004 registries on a real EVM, attestation of the crew's decisions, and the
reputation that sets the autonomy ceiling."""
