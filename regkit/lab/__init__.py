"""Local servers for tests, demos and teaching: registry, Docker engine, proxies."""
