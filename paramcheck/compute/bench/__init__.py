"""Measurement on the GPU at hand: ``measure`` times each component's forward (``paramcheck bench``), ``calibrate``
measures the per-op costs a latency profile holds (``paramcheck calibrate``), ``tables`` renders bench results.

Above the rest of ``compute``: it runs the recipes' forwards for real and compares them with the prediction.
"""
