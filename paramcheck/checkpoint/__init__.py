"""Checkpoints: what their safetensors headers store, and whether that matches the architecture (``paramcheck check``).

``summary`` counts a checkpoint's tensors per dtype (``quantization`` unpacks quantized formats); ``check`` compares
them with the module built from the config on meta; ``render`` draws both.

The files diffusion users have (docs/files.md): ``singlefile`` identifies, splits and checks original-layout single
files (``original`` maps diffusers names to those layouts, ``traced`` runs diffusers' own converters on meta tensors
that remember their sources), ``lora`` reads LoRA adapters and resolves them in a base, ``gguf`` reads GGUF headers;
``files`` says which of these a path is.
"""
