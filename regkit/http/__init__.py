"""HTTP to a registry: the client (and ``client_for``, the one way a step function gets one) with its
transport, retries, endpoints (mirrors and reverse proxies), credentials bound to a registry (given
or from the docker config), tokens and their cache keyed per registry endpoint, the recorded exchange
with its formats (HAR, JSON lines, curl, DataFrame), rate-limit headers and the mapping of unwanted
responses to errors.

May import :mod:`regkit.oci`, :mod:`regkit.errors` and requests/urllib3.
"""
