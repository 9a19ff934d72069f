"""The pull, step by step: token (``auth``), manifest (``manifest_fetch``), blobs, assembling the
tar (``tarball`` with ``store``, ``layerformat``, ``fileio``), and ``pull`` composing them with progress.

May import :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""
