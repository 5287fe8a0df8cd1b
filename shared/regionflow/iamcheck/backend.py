"""What a Pulumi command asks of the self-managed S3 backend and the ``awskms`` secrets provider.

The layout and calls are those of pulumi/pulumi's diy backend and google/go-cloud's ``s3blob``
driver, as read in their source for regionflow's issue 10 (files named below):

* every command that opens the backend reads ``.pulumi/meta.yaml`` and lists ``.pulumi/stacks/``
  (``pkg/backend/diy/meta.go``, ``backend.go``);
* selecting a stack lists the prefix ``.pulumi/stacks/<project>/<stack>.json`` and heads it
  (HeadObject is ``s3:GetObject`` in IAM); a preview then reads the checkpoint and
  ``<stack>.pulumi-tags`` (``pkg/backend/diy/state.go``, ``stack_tags.go``);
* ``up``, ``refresh`` (without ``--preview-only``) and ``destroy`` lock the stack: list
  ``.pulumi/locks/organization/<project>/<stack>/``, put ``<uuid>.json``, delete it at the end
  (``pkg/backend/diy/lock.go``). ``preview``, even with ``--refresh``, takes no lock;
* each snapshot save lists and heads the checkpoint, copies it to ``<stack>.json.bak`` (CopyObject is
  ``s3:GetObject`` on the source and ``s3:PutObject`` on the target) and puts the new checkpoint; after
  an update the history (``.pulumi/history/<project>/<stack>/``) and a backup
  (``.pulumi/backups/<project>/<stack>/``) are written;
* a StackReference reads the referenced stack's checkpoint the same way and decrypts it with that
  stack's secrets provider;
* ``awskms``: one ``kms:Decrypt`` of the stack's encrypted data key per command (``pkg/secrets/cloud``;
  go-cloud ``secrets/awskms``); ``kms:Encrypt`` only when a stack is created (``pulumi stack init``);
* the state bucket is SSE-KMS with the state key, so S3 calls KMS for the caller: an upload needs
  ``kms:GenerateDataKey`` and a download ``kms:Decrypt`` on that key (S3 user guide, "Using
  server-side encryption with AWS KMS keys", permissions);
* go-cloud's ``s3blob`` writer sends no ``x-amz-server-side-encryption`` headers unless the backend
  URL asks for them (``blob/s3blob/s3blob.go``: the upload input sets none), so uploads rely on the
  bucket's default encryption and the request context has no SSE keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from regionflow.iamcheck.model import Manifests, Role
from regionflow.iamcheck.needs import ContextSpec, Need, build_context

ORGANIZATION = "organization"
# Placeholders for names only known at run time (a lock's UUID, an update's timestamp).
LOCK_ID = "00000000-0000-0000-0000-000000000000"
TIMESTAMP = "1700000000000000000"


@dataclass(frozen=True)
class Backend:
    """The S3 backend and the KMS keys behind it."""

    url: str
    bucket: str
    region: str
    prefix: str  # the URL's path, where the backend lives inside the bucket ("" for the root)
    state_key_arn: str | None  # the bucket's SSE-KMS key
    secrets_key_arn: str | None  # the awskms secrets provider's key
    secrets_provider: str | None = None

    @staticmethod
    def from_url(
        url: str,
        *,
        state_key_arn: str | None,
        secrets_key_arn: str | None,
        secrets_provider: str | None = None,
    ) -> Backend | None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            return None
        region = (parse_qs(parsed.query).get("region") or ["us-east-1"])[0]
        return Backend(
            url=url,
            bucket=parsed.netloc,
            region=region,
            prefix=parsed.path.strip("/"),
            state_key_arn=state_key_arn,
            secrets_key_arn=secrets_key_arn,
            secrets_provider=secrets_provider,
        )

    @property
    def account(self) -> str | None:
        """The backend's account: where bootstrap made the state key (and with it the bucket)."""
        key = self.state_key_arn or self.secrets_key_arn
        return key.split(":")[4] if key and key.count(":") >= 5 else None

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"

    def key(self, path: str) -> str:
        return f"{self.prefix}/.pulumi/{path}" if self.prefix else f".pulumi/{path}"

    def object_arn(self, path: str) -> str:
        return f"{self.bucket_arn}/{self.key(path)}"

    def checkpoint(self, project: str, stack: str) -> str:
        return f"stacks/{project}/{stack}.json"


class BackendNeeds:
    """Builds the :class:`Need` list of one role's Pulumi commands against one backend."""

    def __init__(self, backend: Backend, role: Role, manifests: Manifests, job: str) -> None:
        self.backend = backend
        self.role = role
        self.manifests = manifests
        self.job = job

    def _need(
        self,
        action: str,
        resource: str,
        why: str,
        detail: str,
        *,
        via: str | None = None,
        s3: Mapping[str, str] | None = None,
        uncertain: str | None = None,
    ) -> Need:
        spec = ContextSpec(region=self.backend.region, via=via, s3=dict(s3 or {}))
        return Need(
            role=self.role.arn,
            action=action,
            resource=resource,
            context=build_context(self.role.arn, self.role.account, self.role.tags, action, spec),
            why=f"{why} in {self.job}",
            detail=detail,
            uncertain=uncertain,
        )

    def _get(self, path: str, why: str, detail: str) -> Iterator[Need]:
        yield self._need("s3:GetObject", self.backend.object_arn(path), why, detail)
        if self.backend.state_key_arn:
            yield self._need("kms:Decrypt", self.backend.state_key_arn, f"{why} (SSE-KMS object)", detail, via="s3")

    def _put(self, path: str, why: str, detail: str) -> Iterator[Need]:
        # No SSE headers: see the module docstring (go-cloud s3blob).
        detail += "; sent without x-amz-server-side-encryption headers (go-cloud s3blob)"
        yield self._need("s3:PutObject", self.backend.object_arn(path), why, detail, s3={})
        if self.backend.state_key_arn:
            yield self._need(
                "kms:GenerateDataKey", self.backend.state_key_arn, f"{why} (SSE-KMS object)", detail, via="s3"
            )

    def _list(self, prefix: str, why: str, detail: str) -> Need:
        return self._need(
            "s3:ListBucket",
            self.backend.bucket_arn,
            why,
            detail,
            s3={"s3:prefix": self.backend.key(prefix), "s3:delimiter": "/"},
        )

    def open(self) -> Iterator[Need]:
        yield from self._get("meta.yaml", "opening the backend", "GetObject .pulumi/meta.yaml, pkg/backend/diy/meta.go")
        yield self._list("stacks/", "opening the backend", "ListObjectsV2 .pulumi/stacks/, pkg/backend/diy/backend.go")

    def read_stack(self, project: str, stack: str, why: str) -> Iterator[Need]:
        path = self.backend.checkpoint(project, stack)
        yield self._list(path, why, "ListObjectsV2 (GetStack), pkg/backend/diy/state.go")
        yield from self._get(path, why, "HeadObject/GetObject of the checkpoint, pkg/backend/diy/state.go")
        yield self._need(
            "s3:GetObject",
            self.backend.object_arn(f"stacks/{project}/{stack}.pulumi-tags"),
            why,
            "GetObject <stack>.pulumi-tags, pkg/backend/diy/stack_tags.go",
        )

    def decrypt_secrets(self, why: str) -> Iterator[Need]:
        if self.backend.secrets_key_arn:
            yield self._need(
                "kms:Decrypt",
                self.backend.secrets_key_arn,
                why,
                "Decrypt of the stack's encryptedkey, pkg/secrets/cloud/manager.go (awskms)",
            )

    def lock(self, project: str, stack: str) -> Iterator[Need]:
        base = f"locks/{ORGANIZATION}/{project}/{stack}/"
        why = f"the stack lock of {project}/{stack}"
        yield self._list(base, why, "ListObjectsV2 of the lock folder, pkg/backend/diy/lock.go")
        yield from self._put(f"{base}{LOCK_ID}.json", why, "PutObject of the lock, pkg/backend/diy/lock.go")
        yield self._need(
            "s3:DeleteObject", self.backend.object_arn(f"{base}{LOCK_ID}.json"), why, "DeleteObject (Unlock), lock.go"
        )

    def write_stack(self, project: str, stack: str) -> Iterator[Need]:
        path = self.backend.checkpoint(project, stack)
        why = f"saving the state of {project}/{stack}"
        detail = "saveCheckpoint, pkg/backend/diy/state.go"
        yield from self._get(path, why, f"CopyObject source ({detail})")
        yield from self._put(f"{path}.bak", why, f"CopyObject to .bak ({detail})")
        yield from self._put(path, why, f"PutObject of the checkpoint ({detail})")
        history = f"history/{project}/{stack}/{stack}-{TIMESTAMP}"
        yield from self._put(f"{history}.history.json", why, "addToHistory, pkg/backend/diy/state.go")
        yield from self._put(f"{history}.checkpoint.json", why, "addToHistory (CopyObject), state.go")
        yield from self._put(
            f"backups/{project}/{stack}/{stack}.{TIMESTAMP}.json", why, "backupStack, pkg/backend/diy/state.go"
        )


def backend_needs(
    backend: Backend,
    role: Role,
    manifests: Manifests,
    *,
    kind: str,
    stacks: list[tuple[str, str]],
    job: str,
) -> Iterator[Need]:
    """The backend's share of a Pulumi command ``kind`` (up, refresh, destroy, preview) on ``stacks``."""
    needs = BackendNeeds(backend, role, manifests, job)
    yield from needs.open()
    for project, stack in stacks:
        yield from needs.read_stack(project, stack, f"reading the state of {project}/{stack}")
        yield from needs.decrypt_secrets(f"decrypting the secrets of {project}/{stack}")
        if kind in ("up", "refresh", "destroy"):
            yield from needs.lock(project, stack)
            yield from needs.write_stack(project, stack)
        manifest = manifests.stack(project, stack)
        for reference in manifest.of_type("pulumi:pulumi:StackReference") if manifest else []:
            target = manifests.stack_by_qualified(str(reference.id or reference.name))
            parts = str(reference.id or reference.name).split("/")
            ref_project, ref_stack = (target.project, target.stack) if target else (parts[-2], parts[-1])
            why = f"the StackReference of {project}/{stack} to {ref_project}/{ref_stack}"
            yield from needs.read_stack(ref_project, ref_stack, why)
            yield from needs.decrypt_secrets(why)


def bootstrap_policies(backend: Backend | None) -> Any:
    """An external-policy resolver for what ``regionflow bootstrap`` creates: the state bucket's policy
    and the state and secrets keys' key policy, from its own pure builders."""

    def resolve(arn: str, manifests: Manifests) -> dict[str, Any] | None:
        if backend is None:
            return None
        import json

        from regionflow import bootstrap  # imported late: it pulls in pulumi (about 0.3 s)

        if arn == backend.bucket_arn and backend.state_key_arn:
            loaded: dict[str, Any] = json.loads(bootstrap.bucket_policy(backend.bucket, backend.state_key_arn))
            return loaded
        if arn in (backend.state_key_arn, backend.secrets_key_arn):
            # bootstrap made the key in its own account: the account its ARN names.
            key_policy: dict[str, Any] = json.loads(bootstrap.key_policy(arn.split(":")[4]))
            return key_policy
        return None

    return resolve
