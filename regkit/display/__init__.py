"""Display, kept out of the protocol modules: ``html`` (Jupyter reprs), ``tables`` (pandas),
``charts`` (matplotlib) and ``widgets`` (ipywidgets); only ``html`` is imported by regkit itself."""
