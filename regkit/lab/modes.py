"""The lab's modes, light enough for the command line's argument parser."""

MODES = ("hub", "open")
