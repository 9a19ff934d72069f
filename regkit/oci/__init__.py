"""The OCI/Docker formats, pure (no I/O, no network): references, digests, platforms, media types,
manifests, indexes and image configs, auth challenges, JWT claims, header values, redaction.

The lowest layer: may import only :mod:`regkit.errors` and the standard library.
"""
