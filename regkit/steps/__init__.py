"""The pull, step by step: ``repository`` (the handle binding client, reference and token, with its
log of exchanges), token (``auth``), manifest (``manifest_fetch``), blobs, assembling the tar from
blobs on disk, without network (``tarball`` with ``store``, ``layerformat``, ``fileio``), and ``pull``
composing them with progress; ``interrupt`` holds the signal every long loop checks for.

May import :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""
