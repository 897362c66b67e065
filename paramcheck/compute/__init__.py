"""What one image costs: FLOPs of each component's forward on meta tensors, latency, memory advice, and their tables.

``workload`` holds one call's values and the pipelines' defaults; ``recipes`` each class's forward, made from the
input builders of ``inputs``; ``probe`` and ``flops`` count; ``latency`` and ``memory`` derive; ``analysis`` puts them
together; ``tables`` and ``html`` render.
"""
