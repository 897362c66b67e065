"""What one image costs: FLOPs of each component's forward on meta tensors, latency, memory advice, and their tables.

``recipes`` holds the pipelines' defaults and each class's forward (``inputs`` builds the meta tensors); ``probe`` and
``flops`` count; ``latency`` and ``memory`` derive; ``analysis`` puts them together; ``tables`` and ``html`` render.
"""
