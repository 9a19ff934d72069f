"""regkit: the Docker/OCI registry pull protocol, one visible step at a time.

``client.repository(ref)`` binds a :class:`Client`, a reference and its token once (a :class:`Repository`);
the five steps are also callable alone: :func:`resolve`, :func:`get_token`, :func:`get_manifest`,
:func:`fetch_blob`, :func:`assemble` (no network); :func:`pull` composes them. Every HTTP exchange is
recorded (redacted) on the client's transcript, on the repository's log and on each step's result.

The public API, above every layer but the command line: it may import all of them except ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

# Public name -> the module defining it, imported on first use: ``import regkit`` (and so the
# command line, whose ``--help`` must be instant) loads requests, pandas and the rest only when a
# name that needs them is used.
_EXPORTS = {
    "RepositoryUsage": ".analysis.usage",
    "repository_usage": ".analysis.usage",
    "Diagnosis": ".diagnosis",
    "Finding": ".diagnosis",
    "diagnose": ".diagnosis",
    "AuthError": ".errors",
    "BudgetExceeded": ".errors",
    "Cancelled": ".errors",
    "DigestMismatch": ".errors",
    "InvalidOption": ".errors",
    "InvalidPlatform": ".errors",
    "InvalidReference": ".errors",
    "ListingStopped": ".errors",
    "LabError": ".errors",
    "ManifestError": ".errors",
    "NoMatchingPlatform": ".errors",
    "NotFound": ".errors",
    "OutputError": ".errors",
    "RegistryError": ".errors",
    "RegkitError": ".errors",
    "SizeMismatch": ".errors",
    "TransportError": ".errors",
    "UnexpectedResponse": ".errors",
    "UnsafeContent": ".errors",
    "UsageError": ".errors",
    "VerificationError": ".errors",
    "Credentials": ".http.credentials",
    "Endpoints": ".http.endpoints",
    "Exchange": ".http.exchange",
    "Transcript": ".http.exchange",
    "Token": ".http.tokens",
    "Budgets": ".oci.budgets",
    "Digest": ".oci.digest",
    "Descriptor": ".oci.manifest",
    "ImageManifest": ".oci.manifest",
    "Index": ".oci.manifest",
    "Platform": ".oci.platform",
    "Reference": ".oci.reference",
    "resolve": ".oci.reference",
    "get_token": ".steps.auth",
    "NameList": ".steps.listing",
    "catalog": ".steps.listing",
    "list_tags": ".steps.listing",
    "ImageTree": ".steps.referrers",
    "image_tree": ".steps.referrers",
    "BlobResult": ".steps.blobs",
    "fetch_blob": ".steps.blobs",
    "ManifestResult": ".steps.manifest_fetch",
    "get_manifest": ".steps.manifest_fetch",
    "PullResult": ".steps.pull",
    "pull": ".steps.pull",
    "Client": ".steps.repository",
    "Repository": ".steps.repository",
    "BlobStore": ".steps.store",
    "AssembledImage": ".steps.tarball",
    "assemble": ".steps.tarball",
}

if TYPE_CHECKING:
    from .analysis.usage import RepositoryUsage, repository_usage
    from .diagnosis import Diagnosis, Finding, diagnose
    from .errors import (
        AuthError,
        BudgetExceeded,
        Cancelled,
        DigestMismatch,
        InvalidOption,
        InvalidPlatform,
        InvalidReference,
        LabError,
        ListingStopped,
        ManifestError,
        NoMatchingPlatform,
        NotFound,
        OutputError,
        RegistryError,
        RegkitError,
        SizeMismatch,
        TransportError,
        UnexpectedResponse,
        UnsafeContent,
        UsageError,
        VerificationError,
    )
    from .http.credentials import Credentials
    from .http.endpoints import Endpoints
    from .http.exchange import Exchange, Transcript
    from .http.tokens import Token
    from .oci.budgets import Budgets
    from .oci.digest import Digest
    from .oci.manifest import Descriptor, ImageManifest, Index
    from .oci.platform import Platform
    from .oci.reference import Reference, resolve
    from .steps.auth import get_token
    from .steps.blobs import BlobResult, fetch_blob
    from .steps.listing import NameList, catalog, list_tags
    from .steps.manifest_fetch import ManifestResult, get_manifest
    from .steps.pull import PullResult, pull
    from .steps.referrers import ImageTree, image_tree
    from .steps.repository import Client, Repository
    from .steps.store import BlobStore
    from .steps.tarball import AssembledImage, assemble


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'regkit' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AssembledImage",
    "AuthError",
    "BlobResult",
    "BlobStore",
    "BudgetExceeded",
    "Budgets",
    "Cancelled",
    "Client",
    "Credentials",
    "Descriptor",
    "Diagnosis",
    "Digest",
    "DigestMismatch",
    "Endpoints",
    "Exchange",
    "Finding",
    "ImageManifest",
    "ImageTree",
    "Index",
    "InvalidOption",
    "InvalidPlatform",
    "InvalidReference",
    "LabError",
    "ListingStopped",
    "ManifestError",
    "ManifestResult",
    "NameList",
    "NoMatchingPlatform",
    "NotFound",
    "OutputError",
    "Platform",
    "PullResult",
    "Reference",
    "RegistryError",
    "RegkitError",
    "Repository",
    "RepositoryUsage",
    "SizeMismatch",
    "Token",
    "Transcript",
    "TransportError",
    "UnexpectedResponse",
    "UnsafeContent",
    "UsageError",
    "VerificationError",
    "__version__",
    "assemble",
    "catalog",
    "diagnose",
    "fetch_blob",
    "get_manifest",
    "get_token",
    "image_tree",
    "list_tags",
    "pull",
    "repository_usage",
    "resolve",
]
