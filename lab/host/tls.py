"""The lab's certificate authority and the registry stand-in's certificate, made with Debian's openssl.

``up`` makes them once per lab in ``<state>/registry-tls``; every host trusts the
CA (its CA bundle) and serves registry.ollama.ai with the certificate. The keys
are mode 600 and never leave the state dir and the hosts.

.. code:: python

    made = make_certificates(paths.registry_tls, ["registry.ollama.ai"])
    made.ca          # ca.pem: add it to a trust store (curl's, Python's: SSL_CERT_FILE)
    made.cert, made.key   # registry.pem, registry.key: what the registry serves
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

CA_SUBJECT = "/O=private-ollama lab/CN=private-ollama lab CA"
DAYS = 825  # the longest validity clients accept for a server certificate


@dataclass(frozen=True)
class Certificates:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.folder / "registry.pem"

    @property
    def key(self) -> Path:
        return self.folder / "registry.key"


def make_certificates(folder: Path, names: list[str]) -> Certificates:
    """A fresh CA, and a server certificate for ``names`` (DNS subject alternative names) that it signs."""
    made = Certificates(folder)
    folder.mkdir(mode=0o700, parents=True)
    ca_key, request, extensions = folder / "ca.key", folder / "registry.csr", folder / "registry.ext"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", ca_key, "-out", made.ca, "-days", str(DAYS), "-subj", CA_SUBJECT,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", made.key, "-out", request, "-subj", f"/CN={names[0]}")
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(f'DNS:{name}' for name in names)}\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    _openssl("x509", "-req", "-in", request, "-CA", made.ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", made.cert, "-days", str(DAYS), "-extfile", extensions)
    for path in (ca_key, made.key):
        path.chmod(0o600)
    for path in (request, extensions, folder / "ca.srl"):
        path.unlink()
    return made


def _openssl(*args: str | Path) -> None:
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")
