"""`manifestc publish`: upload product templates to S3 at their versioned keys (SPEC §5.6).

boto3 is an optional extra (`pip install 'manifestc[publish]'`); nothing else needs it. A
published version is immutable: re-publishing the same bytes is a no-op, different bytes under
an existing version are refused unless forced (bump catalog.version instead).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


class PublishError(Exception):
    """A publish problem the user can act on (message says how)."""


@dataclass(frozen=True)
class Upload:
    pipeline: str
    key: str
    url: str
    status: str  # uploaded | unchanged | replaced


def _client(region: str | None, endpoint_url: str | None):
    try:
        import boto3
    except ImportError as exc:
        raise PublishError("manifestc publish needs boto3: pip install 'manifestc[publish]'") from exc
    return boto3.client("s3", region_name=region, endpoint_url=endpoint_url)


def object_url(bucket: str, key: str, region: str | None, endpoint_url: str | None) -> str:
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/{bucket}/{key}"
    if region:
        return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
    return f"https://{bucket}.s3.amazonaws.com/{key}"


def upload_templates(
    items: list[tuple[str, str, Path]],
    bucket: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    force: bool = False,
) -> list[Upload]:
    """Upload (pipeline, key, template file) items; returns what happened to each."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = _client(region, endpoint_url)
    uploads = []
    for pipeline, key, path in items:
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        status = "uploaded"
        try:
            try:
                head = client.head_object(Bucket=bucket, Key=key)
                if head.get("Metadata", {}).get("sha256") == digest:
                    status = "unchanged"
                elif not force:
                    raise PublishError(
                        f"s3://{bucket}/{key} already holds a different {pipeline} template: published "
                        "versions are immutable; bump catalog.version (or pass --force)"
                    )
                else:
                    status = "replaced"
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
            if status != "unchanged":
                client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/x-yaml",
                    ServerSideEncryption="AES256",
                    Metadata={"sha256": digest},
                )
        except (BotoCoreError, ClientError) as exc:
            raise PublishError(f"cannot upload s3://{bucket}/{key}: {exc}") from exc
        uploads.append(Upload(pipeline, key, object_url(bucket, key, region, endpoint_url), status))
    return uploads
