"""regkit: the Docker/OCI registry pull protocol, one visible step at a time.

``regkit.Repository(client, ref)`` binds a :class:`Client`, a reference and its token once; the five steps
are also callable alone: :func:`resolve`, :func:`get_token`, :func:`get_manifest`, :func:`fetch_blob`,
:func:`assemble` (no network); :func:`pull` composes them. Every HTTP exchange is recorded (redacted)
on the client's transcript, on the repository's log and on each step's result.

Everything a documented keyword takes (``Mirrors``, ``RetryPolicy``, ``SpeedLimit``, ``Platform``,
``Budgets``, ``Progress``, …) is importable from here, and so are the lab (``Lab``) and the analysis
functions; the subpackages ``analysis``, ``diagnosis``, ``display``, ``errors`` and ``lab`` too.

The public API, above every layer but the command line: it may import all of them except ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._public import public
from ._version import __version__

# The one list of public names: name -> the module defining it, imported on first use, so that
# ``import regkit`` (and so the command line, whose ``--help`` must be instant) loads requests,
# pandas and the rest only when a name that needs them is used. ``__all__`` and ``__dir__`` come from
# it; tests/test_public.py checks that the type checker's imports below name the same.
_EXPORTS = {
    "analysis": ".",
    "diagnosis": ".",
    "display": ".",
    "errors": ".",
    "AccessDenied": ".errors",
    "RepositoryUsage": ".analysis.usage",
    "repository_usage": ".analysis.usage",
    "AuthError": ".errors",
    "BudgetExceeded": ".errors",
    "CacheWarning": ".errors",
    "Cancelled": ".errors",
    "DigestMismatch": ".errors",
    "Hint": ".errors",
    "InvalidOption": ".errors",
    "InvalidPlatform": ".errors",
    "InvalidReference": ".errors",
    "ListingStopped": ".errors",
    "LabError": ".errors",
    "ManifestError": ".errors",
    "NoMatchingPlatform": ".errors",
    "NotFound": ".errors",
    "Option": ".errors",
    "OutputError": ".errors",
    "PortInUse": ".errors",
    "RegistryError": ".errors",
    "RegkitError": ".errors",
    "SizeMismatch": ".errors",
    "TransportError": ".errors",
    "UnexpectedResponse": ".errors",
    "UnsafeContent": ".errors",
    "UsageError": ".errors",
    "VerificationError": ".errors",
    "lab": ".",
    "ImageComparison": ".analysis.compare",
    "compare_images": ".analysis.compare",
    "ExportResult": ".analysis.export",
    "export": ".analysis.export",
    "Filesystem": ".analysis.filesystem",
    "ImageAnalysis": ".analysis.image",
    "analyze": ".analysis.image",
    "LayerSizes": ".analysis.sizes",
    "SizeReport": ".analysis.sizes",
    "layer_sizes": ".analysis.sizes",
    "manifest_sizes": ".analysis.sizes",
    "compare_pulls": ".analysis.costs",
    "proxy_latency": ".analysis.costs",
    "upstream_costs": ".analysis.costs",
    "compare_dialects": ".analysis.dialects",
    "charts": ".display",
    "tables": ".display",
    "widgets": ".display",
    "Finding": ".diagnosis.findings",
    "Diagnosis": ".diagnosis.runner",
    "diagnose": ".diagnosis.runner",
    "Client": ".http.client",
    "Credentials": ".http.credentials",
    "Endpoints": ".http.endpoints",
    "Exchange": ".http.exchange",
    "Transcript": ".http.exchange",
    "Mirrors": ".http.mirrors",
    "MockTransport": ".http.mocktransport",
    "RetryPolicy": ".http.retry",
    "SpeedLimit": ".http.speed",
    "Token": ".http.tokens",
    "Lab": ".lab.lab",
    "notebook_lab": ".lab.lab",
    "Budgets": ".oci.budgets",
    "Meter": ".oci.budgets",
    "Digest": ".oci.digest",
    "Descriptor": ".oci.manifest",
    "ImageManifest": ".oci.manifest",
    "Index": ".oci.manifest",
    "Platform": ".oci.platform",
    "Reference": ".oci.reference",
    "resolve": ".oci.reference",
    "challenges_of": ".steps.auth",
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
    "BarProgress": ".steps.progress",
    "Progress": ".steps.progress",
    "PullResult": ".steps.pull",
    "pull": ".steps.pull",
    "Repository": ".steps.repository",
    "BlobStore": ".storage.store",
    "AssembledImage": ".steps.tarball",
    "assemble": ".steps.tarball",
}

if TYPE_CHECKING:
    from . import analysis, diagnosis, display, errors, lab
    from .analysis.compare import ImageComparison, compare_images
    from .analysis.costs import compare_pulls, proxy_latency, upstream_costs
    from .analysis.dialects import compare_dialects
    from .analysis.export import ExportResult, export
    from .analysis.filesystem import Filesystem
    from .analysis.image import ImageAnalysis, analyze
    from .analysis.sizes import (
        LayerSizes,
        SizeReport,
        layer_sizes,
        manifest_sizes,
    )
    from .analysis.usage import RepositoryUsage, repository_usage
    from .diagnosis.findings import Finding
    from .diagnosis.runner import Diagnosis, diagnose
    from .display import charts, tables, widgets
    from .errors import (
        AccessDenied,
        AuthError,
        BudgetExceeded,
        CacheWarning,
        Cancelled,
        DigestMismatch,
        Hint,
        InvalidOption,
        InvalidPlatform,
        InvalidReference,
        LabError,
        ListingStopped,
        ManifestError,
        NoMatchingPlatform,
        NotFound,
        Option,
        OutputError,
        PortInUse,
        RegistryError,
        RegkitError,
        SizeMismatch,
        TransportError,
        UnexpectedResponse,
        UnsafeContent,
        UsageError,
        VerificationError,
    )
    from .http.client import Client
    from .http.credentials import Credentials
    from .http.endpoints import Endpoints
    from .http.exchange import Exchange, Transcript
    from .http.mirrors import Mirrors
    from .http.mocktransport import MockTransport
    from .http.retry import RetryPolicy
    from .http.speed import SpeedLimit
    from .http.tokens import Token
    from .lab.lab import Lab, notebook_lab
    from .oci.budgets import Budgets, Meter
    from .oci.digest import Digest
    from .oci.manifest import Descriptor, ImageManifest, Index
    from .oci.platform import Platform
    from .oci.reference import Reference, resolve
    from .steps.auth import challenges_of, get_token
    from .steps.blobs import BlobResult, fetch_blob
    from .steps.listing import NameList, catalog, list_tags
    from .steps.manifest_fetch import ManifestResult, get_manifest
    from .steps.progress import BarProgress, Progress
    from .steps.pull import PullResult, pull
    from .steps.referrers import ImageTree, image_tree
    from .steps.repository import Repository
    from .steps.tarball import AssembledImage, assemble
    from .storage.store import BlobStore

__all__, __getattr__, __dir__ = public(__name__, {**_EXPORTS, "__version__": "._version"})
