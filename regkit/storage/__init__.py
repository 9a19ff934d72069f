"""Storage below the steps, no network: verified writes (``fileio``), the ``BlobStore`` (``store``) with its
pack index (``packs``) and trust ``records``, the persistent blob ``cache``, ``places`` in an output,
``layerformat`` conversions, ``output`` work files, and ``interrupt``, the signal every long loop checks for.

May import :mod:`regkit.oci` and :mod:`regkit.errors`.
"""
