"""regkit: the Docker/OCI registry pull protocol, one visible step at a time.

The five steps, each callable alone: :func:`resolve`, :func:`get_token`, :func:`get_manifest`,
:func:`fetch_blob`, :func:`assemble`; :func:`pull` composes them. Every HTTP exchange is recorded
(redacted) on the :class:`Client` transcript and on each step's result.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .auth import Token, get_token
from .blobs import BlobResult, fetch_blob
from .budgets import Budgets
from .client import Client, Credentials
from .diagnosis import Diagnosis, Finding, diagnose
from .digest import Digest
from .endpoints import Endpoints
from .errors import (
    AuthError,
    BudgetExceeded,
    Cancelled,
    DigestMismatch,
    InvalidOption,
    InvalidPlatform,
    InvalidReference,
    LabError,
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
from .exchange import Exchange, Transcript
from .manifest import Descriptor, ImageManifest, Index
from .manifests import ManifestResult, get_manifest
from .platform import Platform
from .pull import PullResult, pull
from .reference import Reference, resolve
from .store import BlobStore
from .tarball import AssembledImage, assemble

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
    "Index",
    "InvalidOption",
    "InvalidPlatform",
    "InvalidReference",
    "LabError",
    "ManifestError",
    "ManifestResult",
    "NoMatchingPlatform",
    "NotFound",
    "OutputError",
    "Platform",
    "PullResult",
    "Reference",
    "RegistryError",
    "RegkitError",
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
    "diagnose",
    "fetch_blob",
    "get_manifest",
    "get_token",
    "pull",
    "resolve",
]
