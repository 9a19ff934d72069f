"""The lab's modes and dialect names, light enough for the command line's argument parser."""

MODES = ("hub", "open")
# The names of :data:`regkit.lab.dialects.DIALECTS`, in its order (tests/test_lab_dialects.py checks they agree):
# the specs need dataclasses, which ``regkit --help`` must not import.
DIALECT_NAMES = ("hub", "ghcr", "quay", "ecr", "gar", "acr", "harbor", "gitlab")
