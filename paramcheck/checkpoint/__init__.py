"""Checkpoints: what their safetensors headers store, and whether that matches the architecture (``paramcheck check``).

``summary`` counts a checkpoint's tensors per dtype (``quantization`` unpacks quantized formats); ``check`` compares
them with the module built from the config on meta; ``render`` draws both.
"""
