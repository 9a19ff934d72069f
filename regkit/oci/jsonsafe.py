"""JSON from a registry, parsed without letting its shape break the parser or the code that walks it.

``json.loads`` recurses once per nesting level: a document a few thousand brackets deep raises
``RecursionError`` (no ``ValueError``), and one just under the interpreter's limit parses but
breaks every recursive walk afterwards (redaction, display). Real manifests, configs, token
responses and error bodies nest a handful of levels; :data:`MAX_DEPTH` is far above that.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100


class JsonError(ValueError):
    """Not JSON, or JSON nested deeper than :data:`MAX_DEPTH` (a ``ValueError``, like json's own)."""


def loads(data: bytes | bytearray | str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises :class:`JsonError` for bad or over-deep input, never ``RecursionError``."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise JsonError(f"JSON nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError too
        raise JsonError(f"{exc.__class__.__name__}: {exc}") from None
    if depth(doc, max_depth) > max_depth:
        raise JsonError(f"JSON nested deeper than {max_depth} levels")
    return doc


def depth(doc: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a parsed document (a scalar is 0), counted without recursion; stops past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        level += 1
        deepest = max(deepest, level)
        if deepest > limit:
            break
        stack.extend((child, level) for child in node)
    return deepest
