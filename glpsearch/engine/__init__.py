"""Runs a strategy against an evaluator through the store: cache look-up,
de-duplication, claims, parallel work and write-through. Knows nothing of torch.
"""
