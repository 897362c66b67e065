"""The default tier of the hostile corpus: what a CI run executes unless ``PARAMCHECK_HOSTILE=full``.

Every root cause of issue 13 (A-M in the corpus notes) keeps the cheapest cases that show each of its failure classes
and each of its test functions, every case that once showed a security problem or lost data, and the baselines. The
full corpus (682 cases; ~16 min on a loaded 2-core machine) runs with ``PARAMCHECK_HOSTILE=full``; see
docs/security-inputs.md, "hostile corpus". Ids are ``<module>::<test id>`` as pytest prints them.
"""

from __future__ import annotations

# root cause (corpus notes) -> its representative cases
BY_CAUSE: dict[str, tuple[str, ...]] = {
    "A": (
        "test_configs.py::test_config_fifo_is_refused_not_waited_on",
        "test_hub.py::test_hub[config-200MB]",
        "test_plugin.py::test_plugin[snapshot-5000-digit-int]",
        "test_configs.py::test_config[200MB-config]",
        "test_cli.py::test_pyproject[non-utf8-in-a-parent-folder]",
        "test_configs.py::test_config[5000-digit-int]",
        "test_configs.py::test_pipeline[model_index-non-utf8]",
        "test_hub.py::test_hub[model_index-100k-deep]",
        "test_hub.py::test_offline_cache[manifest-100k-deep]",
        "test_plugin.py::test_plugin[model_index-non-utf8]",
        "test_safetensors.py::test_file[100k-deep-header]",
        "test_safetensors.py::test_folder[config-100k-deep]",
        "test_safetensors.py::test_pipeline_with_a_non_utf8_component_config",
    ),
    "B": (
        "test_configs.py::test_pipeline[library-canary-class-not-called]",
        "test_configs.py::test_config[class_name-scheduler]",
        "test_configs.py::test_pipeline[library-this-prints-zen]",
        "test_configs.py::test_pipeline[library-empty]",
        "test_hub.py::test_hub[model_index-this]",
        "test_plugin.py::test_plugin[model-inside-checkout-imports-its-module]",
    ),
    "C": (
        "test_plugin.py::test_plugin[model-id-newline]",
        "test_configs.py::test_pipeline[model_index-50k-components]",
        "test_cli.py::test_arguments[path-with-newline]",
        "test_configs.py::test_pipeline[component-name-parent]",
        "test_configs.py::test_pipeline[vae-entry-a-dict]",
        "test_configs.py::test_config[architectures-dict]",
        "test_configs.py::test_pipeline[vae-folder-unreadable]",
        "test_hub.py::test_hub[revision-with-newline]",
        "test_plugin.py::test_plugin[config-architectures-dict]",
    ),
    "D": (
        "test_configs.py::test_config[flux-num_layers-10000]",
        "test_configs.py::test_config[Infinity]",
        "test_configs.py::test_config[typo-t5-num_head]",
        "test_hub.py::test_hub[config-typo-num_layer]",
        "test_plugin.py::test_plugin[config-num_layers-100000]",
        "test_safetensors.py::test_against[config-with-10**12-layers]",
        "test_safetensors.py::test_folder[config-num_layers-typo-but-weights-match]",
    ),
    "E": (
        "test_hub.py::test_hub[weight_map-other-repository]",
        "test_hub.py::test_hub[sha-not-hex]",
        "test_hub.py::test_hub[api-json-list]",
        "test_hub.py::test_hub[api-sha-null]",
        "test_hub.py::test_hub[component-name-parent]",
        "test_hub.py::test_hub[revision-with-nul]",
    ),
    "F": (
        "test_hub.py::test_hub[header-overlapping-offsets]",
        "test_hub.py::test_offline_cache[manifest-shape-abc-check]",
        "test_hub.py::test_offline_cache[manifest-shape-abc]",
        "test_hub.py::test_hub[header-shape-negative-report]",
        "test_hub.py::test_hub[header-offsets-all-zero]",
    ),
    "G": (
        "test_hub.py::test_hub[config-delayed-60s]",
        "test_hub.py::test_hub[api-http-500]",
        "test_hub.py::test_hub[files-http-500]",
        "test_hub.py::test_hub[api-delayed-60s]",
        "test_hub.py::test_hub[config-one-byte-every-2s]",
        "test_hub.py::test_hub[header-260k-tensors]",
    ),
    "H": (
        "test_safetensors.py::test_file[300k-zero-size-tensors]",
        "test_safetensors.py::test_folder[shard-etc-passwd]",
        "test_safetensors.py::test_against[bundled-scheduler]",
        "test_safetensors.py::test_folder[folder-unreadable]",
        "test_safetensors.py::test_check_slash_is_bounded",
        "test_safetensors.py::test_file[text-file-with-a-secret]",
    ),
    "I": (
        "test_cli.py::test_arguments[flops-prompt-length-1e8]",
        "test_cli.py::test_arguments[flops-height-width-1e9]",
        "test_cli.py::test_arguments[memory-batch-1e9]",
        "test_cli.py::test_arguments[flops-clip-max-positions-1e9]",
        "test_cli.py::test_arguments[flops-prompt-length-1e23]",
        "test_cli.py::test_arguments[flops-prompt-length-1e9]",
    ),
    "J": (
        "test_cli.py::test_arguments[output-fifo]",
        "test_cli.py::test_arguments[symlink-loop-is-a-path-not-a-hub-id]",
        "test_cli.py::test_arguments[no-fold-without-layers]",
        "test_cli.py::test_arguments[path-too-long]",
        "test_cli.py::test_arguments[output-with-nul]",
        "test_cli.py::test_stdout[stdout-full-list->/dev/full-env2-expect2]",
    ),
    "K": (
        "test_cli.py::test_pyproject[rule-leaf-string-no]",
        "test_cli.py::test_pyproject[rules-is-an-int]",
        "test_cli.py::test_pyproject[tool-is-a-string]",
        "test_cli.py::test_pyproject[rule-children-int]",
        "test_cli.py::test_pyproject[category-seed-list]",
        "test_cli.py::test_pyproject[tool-is-an-int]",
    ),
    "L": (
        "test_loading.py::test_load[no-progress-bars-on-a-file]",
        "test_loading.py::test_load[t5-1.7GB-under-a-1GB-address-space-limit]",
        "test_loading.py::test_load[components-scheduler]",
        "test_loading.py::test_load[components-tokenizer]",
        "test_loading.py::test_load[components-empty]",
    ),
    "M": (
        "test_plugin.py::test_plugin[model-id-newline]",
        "test_plugin.py::test_plugin[update-keeps-the-file-mode]",
        "test_plugin.py::test_plugin[snapshots-folder-read-only-update]",
        "test_plugin.py::test_plugin[snapshot-empty]",
        "test_plugin.py::test_plugin[ini-snapshot-dir-outside-rootdir]",
        "test_plugin.py::test_plugin[conflict-markers-and-full-update]",
        "test_plugin.py::test_plugin[config-100k-deep]",
    ),
}

# every case that once overwrote, leaked or deleted something, and the valid inputs that must keep working
SECURITY_AND_LOST_DATA: tuple[str, ...] = (
    "test_configs.py::test_pipeline[component-folder-symlink-outside]",
    "test_configs.py::test_pipeline[component-name-absolute]",
    "test_configs.py::test_pipeline[component-name-dotdot-outside]",
    "test_configs.py::test_pipeline[component-name-inner-dotdot]",
    "test_configs.py::test_pipeline[component-name-parent]",
    "test_configs.py::test_pipeline[library-canary-class-not-called]",
    "test_configs.py::test_pipeline[library-canary-module]",
    "test_configs.py::test_pipeline[library-subprocess-Popen]",
    "test_configs.py::test_pipeline[library-this-prints-zen]",
    "test_hub.py::test_hub[model_index-canary-module]",
    "test_hub.py::test_hub[model_index-subprocess-Popen]",
    "test_hub.py::test_hub[model_index-this]",
    "test_hub.py::test_hub[revision-absolute-path]",
    "test_hub.py::test_hub[revision-option-path-escape]",
    "test_hub.py::test_hub[revision-path-escape]",
    "test_hub.py::test_hub[revision-percent-encoded-escape]",
    "test_hub.py::test_hub[sha-absolute-path]",
    "test_hub.py::test_hub[sha-path-escape]",
    "test_hub.py::test_hub[weight_map-other-repository]",
    "test_plugin.py::test_plugin[conflict-markers-and-full-update]",
    "test_plugin.py::test_plugin[conflict-markers-and-partial-update]",
    "test_plugin.py::test_plugin[ini-snapshot-dir-outside-rootdir]",
    "test_plugin.py::test_plugin[model-id-absolute]",
    "test_plugin.py::test_plugin[model-id-path-escape]",
    "test_plugin.py::test_plugin[model-inside-checkout-imports-its-module]",
    "test_plugin.py::test_plugin[update-keeps-the-file-mode]",
    "test_plugin.py::test_plugin[update-with-deselect-node-id]",
    "test_plugin.py::test_plugin[update-with-k-subset]",
    "test_safetensors.py::test_file[etc-passwd-symlink]",
    "test_safetensors.py::test_file[text-file-with-a-secret]",
    "test_safetensors.py::test_folder[shard-absolute]",
    "test_safetensors.py::test_folder[shard-dotdot]",
    "test_safetensors.py::test_folder[shard-etc-passwd]",
    "test_safetensors.py::test_folder[shard-inner-dotdot]",
    "test_safetensors.py::test_folder[shard-proc-self-environ]",
    "test_safetensors.py::test_folder[shard-subfolder]",
    "test_safetensors.py::test_folder[shard-symlink-to-etc-passwd]",
)
BASELINES: tuple[str, ...] = (
    "test_cli.py::test_valid_report_is_clean",
    "test_plugin.py::test_plugin[baseline-passes]",
    "test_hub.py::test_hub[baseline-report]",
    "test_hub.py::test_hub[baseline-check]",
    "test_loading.py::test_load_baseline",
    "test_safetensors.py::test_valid_lone_file_is_counted_by_header_only",
    "test_hub.py::test_repository_ids_are_refused_before_any_request",
)

DEFAULT: frozenset[str] = frozenset(
    {*SECURITY_AND_LOST_DATA, *BASELINES, *(i for ids in BY_CAUSE.values() for i in ids)}
)
