"""The registry dialects the lab can speak: what each real registry does differently in the pull flow.

Pure data, light enough for the command line's argument parser. Every fact comes from
``/work/shared/notes/registry-dialects.md`` (public documentation, issue threads and the OCI
conformance reports, December 2026), which names the thread or page of each; ``source`` repeats the
main one. The lab's service (:mod:`regkit.lab.dialectfront`) turns a spec into answers, and
:mod:`regkit.lab.dialectlab` starts the servers. ``hub`` is the lab of :mod:`regkit.lab.lab`, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

# The credential shapes (user names) the dialects accept.
ECR_USER = "AWS"
GAR_TOKEN_USER = "oauth2accesstoken"
GAR_KEY_USER = "_json_key"
ACR_NULL_USER = "00000000-0000-0000-0000-000000000000"
HARBOR_ROBOT = "robot$library+regkit"
QUAY_ROBOT = "regkit+lab"
GITLAB_DEPLOY_USER = "gitlab+deploy-token-1"


@dataclass(frozen=True)
class Dialect:
    """How one registry answers a pull: challenge, token service, credentials, redirects, storage, tag paging."""

    name: str
    about: str
    source: str
    scheme: str = "Bearer"  # "Basic": no token service at all (ECR)
    realm_path: str = "/token"
    auth_host: bool = False  # the token service has a host of its own (GitLab's /jwt/auth)
    service: str = "{host}"  # "{host}" becomes the registry's own host:port
    quote_service: bool = True  # gcr.io writes service=gcr.io without quotes
    root_service: bool = True  # Artifact Registry's /v2/ challenge names no service
    root_body: str = ""  # Quay's /v2/ answers 401 with the body ``true``
    token_fields: tuple[str, ...] = ("token",)
    expires_in: int | None = None  # None: the answer has no expires_in (clients assume 60 s)
    issued_at: bool = False
    token_ttl: int = 300  # how long the token really lives (its JWT exp)
    deny_at_token: str = ""  # "": an empty-access token, the registry refuses; else the token service's message
    deny_status: int = 403
    anonymous: bool = True  # public repositories readable without credentials
    user: str = "lab"
    password_ttl: int = 0  # seconds a password lives (ECR's 12 h, GAR's 1 h access token); 0: forever
    redirect_status: int = 307
    redirect: str = "s3"  # s3 | azure | gcs | relative
    digest_on_redirect: bool = False  # Quay's 302 carries Docker-Content-Digest
    signed_extras: tuple[str, ...] = ()  # query keys beside the storage's own (see signedurls.signed_location)
    url_ttl: int = 1200  # distribution's storage drivers presign for 20 min
    paging: str = "link"  # link | orderby (ACR) | ecr (opaque cursors, n <= 1000)
    scope_rule: str = ""  # strict: unknown repositories fail the request; actions (Quay); namespace (Harbor)
    tokenless_public: bool = False  # Quay serves public repositories to requests without a token
    tag_extras: bool = False  # Artifact Registry adds Google fields to tags/list

    def summary(self) -> str:
        """One line for ``regkit lab dialects``."""
        return f"{self.name:<7} {self.about}"


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "hub",
            "Docker Hub (the lab of regkit.lab.lab): token+access_token+expires_in 300, 307 to a signed CDN",
            "https://distribution.github.io/distribution/spec/auth/token/",
        ),
        Dialect(
            "ghcr",
            "GHCR: /token answers {token} only, 403 DENIED at the token service, 307 to an Azure-SAS-like host",
            "registry-dialects.md (GHCR rows; stargz-snapshotter#167)",
            deny_at_token="requested access to the resource is denied",
            scope_rule="strict",
            redirect="azure",
            signed_extras=("spr",),
        ),
        Dialect(
            "quay",
            "Quay: /v2/ answers 401 'true', /v2/auth {token} only, robot org+name, 302 with Docker-Content-Digest",
            "registry-dialects.md (Quay rows; regclient#272, #274)",
            realm_path="/v2/auth",
            root_body="true",
            scope_rule="actions",
            tokenless_public=True,
            user=QUAY_ROBOT,
            redirect_status=302,
            digest_on_redirect=True,
            signed_extras=("akamai_signature",),
            url_ttl=600,
        ),
        Dialect(
            "ecr",
            "ECR: Basic only, user AWS + a 12 h password, SigV4 S3 redirect, opaque tag cursors, n <= 1000",
            "registry-dialects.md (ECR rows; go-containerregistry#681, renovate#3877)",
            scheme="Basic",
            realm_path="/",
            service="ecr.amazonaws.com",
            anonymous=False,
            user=ECR_USER,
            password_ttl=12 * 3600,
            signed_extras=("X-Amz-Security-Token",),
            paging="ecr",
        ),
        Dialect(
            "gar",
            "Artifact Registry: /v2/token, /v2/ challenge without service, gcr.io-style unquoted service=, IAM denial, "
            "relative same-host Location",
            "registry-dialects.md (Artifact Registry and gcr.io rows)",
            realm_path="/v2/token",
            service="us-docker.pkg.dev",
            quote_service=False,
            root_service=False,
            scope_rule="strict",
            deny_at_token=(
                'Permission "artifactregistry.repositories.downloadArtifacts" denied on resource '
                '"projects/regkit-lab/locations/us/repositories/{repository}" (or it may not exist)'
            ),
            user=GAR_TOKEN_USER,
            password_ttl=3600,
            token_fields=("token", "access_token"),
            expires_in=3600,
            token_ttl=3600,
            redirect_status=302,
            redirect="relative",
            tag_extras=True,
        ),
        Dialect(
            "acr",
            "ACR: /oauth2/token GET and POST (refresh_token, password), /oauth2/exchange, {access_token} only, SAS",
            "registry-dialects.md (ACR rows); Docker's config.json identitytoken",
            realm_path="/oauth2/token",
            token_fields=("access_token",),
            anonymous=False,
            user=ACR_NULL_USER,
            password_ttl=3 * 3600,
            redirect="azure",
            paging="orderby",
        ),
        Dialect(
            "harbor",
            "Harbor: /service/token, service harbor-registry, robot$project+name, token+expires_in+issued_at, S3",
            "registry-dialects.md (Harbor rows; harbor#11852)",
            realm_path="/service/token",
            service="harbor-registry",
            scope_rule="namespace",
            token_fields=("token",),
            expires_in=1800,
            issued_at=True,
            token_ttl=1800,
            user=HARBOR_ROBOT,
        ),
        Dialect(
            "gitlab",
            "GitLab: a separate /jwt/auth host, service container_registry, deploy tokens, Google storage",
            "registry-dialects.md (GitLab rows; oras-go#1396)",
            realm_path="/jwt/auth",
            auth_host=True,
            service="container_registry",
            token_ttl=900,
            user=GITLAB_DEPLOY_USER,
            redirect="gcs",
        ),
    )
}
