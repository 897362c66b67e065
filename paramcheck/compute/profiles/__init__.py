"""Latency profiles paramcheck ships (``paramcheck calibrate`` output) and the architecture catalog they cover."""
