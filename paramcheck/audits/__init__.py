"""The audits shipped with paramcheck: collected in a project through one test module that imports them.

``paramcheck init`` writes that module (``tests/test_paramcheck.py``)::

    from paramcheck.audits import *  # noqa: F403

and pytest parametrizes each audit with the components of the models in pyproject.toml's
``[tool.paramcheck.models]``. Their snapshots go to ``snapshots/<that module's name>/<model id>.json``, one readable
file per model. The modules can also be collected one by one: ``pytest --pyargs paramcheck.audits.snapshots``.

- ``snapshots``: counts, layer-type tables, ties and buffers of each component against its snapshot;
- ``invariants``: partitions that hold whatever the snapshot says (no snapshot needed);
- ``weights``: where a source has weights, the component loaded by ``from_pretrained`` counts what its config counts;
- ``checkpoints``: where a source has weights, its safetensors headers hold exactly the architecture's tensors.
"""

from __future__ import annotations

from .checkpoints import test_checkpoint_matches_architecture
from .invariants import test_buffers_partition, test_ties_partition_named_parameters, test_views_partition_parameters
from .snapshots import test_counts, test_layer_types, test_ties_and_buffers
from .weights import test_loaded_counts_equal_config_counts

__all__ = [
    "test_buffers_partition",
    "test_checkpoint_matches_architecture",
    "test_counts",
    "test_layer_types",
    "test_loaded_counts_equal_config_counts",
    "test_ties_and_buffers",
    "test_ties_partition_named_parameters",
    "test_views_partition_parameters",
]
