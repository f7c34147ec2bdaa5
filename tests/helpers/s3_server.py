"""An S3-protocol server on 127.0.0.1 for object-store tests: moto's standalone server in a subprocess.

A subprocess (not moto's in-process mock) so that everything the product starts -- Dask workers,
CLI subprocesses -- reaches it over HTTP exactly as it would reach a real S3 endpoint, configured
through the standard environment variables that :func:`s3_env` returns.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: Credentials moto accepts (any); real ones are never needed nor read.
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    """A running moto server: ``endpoint`` (``http://127.0.0.1:PORT``) and its process."""

    endpoint: str
    process: subprocess.Popen

    def env(self) -> dict[str, str]:
        """The environment variables that point boto/s3fs (and so eventkit) at this server."""
        return {**_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, **_boto_kwargs()).create_bucket(Bucket=name)

    def reset(self) -> None:
        """Forget every bucket (moto's reset endpoint), so tests do not see each other's objects."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).read()


def _boto_kwargs() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@contextmanager
def s3_server(timeout: float = 30.0) -> Iterator[S3Server]:
    """Start ``moto.server`` on a free port of 127.0.0.1, wait until it answers, stop it afterwards."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, **_CREDENTIALS),
    )  # fmt: skip
    try:
        end = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"moto server did not start on {endpoint}") from None
                time.sleep(0.2)
        yield S3Server(endpoint, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
