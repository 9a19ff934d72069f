"""The version of regkit, in the lowest layer so that every module may name it."""

__version__ = "0.1.0"
