"""The pull, step by step: ``fetcher`` (one repository's client, reference, token and log of exchanges),
``repository`` (the public handle on it), token (``auth``), manifest (``manifest_fetch``), blobs, assembling
the tar from blobs in :mod:`regkit.storage` without network (``tarball``), and ``pull`` composing them
with progress.

May import :mod:`regkit.storage`, :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""
