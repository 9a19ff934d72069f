"""HTTP to a registry: the client and its transport, retries, endpoints (mirrors and reverse
proxies), docker config credentials, the recorded exchange with its formats (HAR, JSON lines,
curl, DataFrame), rate-limit headers and the mapping of unwanted responses to errors.

May import :mod:`regkit.oci`, :mod:`regkit.errors` and requests/urllib3.
"""
