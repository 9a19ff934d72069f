"""Each budget of :class:`~regkit.oci.budgets.Budgets` by name: its command-line option and its default.

Plain dicts, kept apart from the dataclass and importing nothing: building the CLI's options (``regkit --help``)
reads them without loading ``dataclasses`` (~10 ms of start-up).
"""

from __future__ import annotations

# The command-line flag of each budget, named in the error that refuses it.
OPTIONS = {
    "layer_bytes": "--max-layer-bytes",
    "image_bytes": "--max-image-bytes",
    "layer_entries": "--max-layer-entries",
    "image_entries": "--max-image-entries",
    "path_bytes": "--max-path-bytes",
}
DEFAULTS = {
    "layer_bytes": 64 << 30,
    "image_bytes": 256 << 30,
    "layer_entries": 1 << 21,
    "image_entries": 1 << 22,
    "path_bytes": 1 << 30,
}
# Names one tag list or catalogue may return before it is refused (--max-tags, max_names=), see regkit.oci.paging.
MAX_NAMES = 100_000
