"""Runs assembled from their options, for the API and the CLI alike: what a run is
built from (assemble: the cache, settings, device, workers, the one Engine), several
strategies through one store (comparison), the paper's final protocol (final), Ctrl-C.
"""
