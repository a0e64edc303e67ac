"""Certificates for grading on a Dask cluster over TLS: ``python -m autograde.clustercerts DIR``.

Writes, in ``DIR``, a certificate authority of the course's own (``ca.pem``; its key ``ca.key`` is
needed only to make more certificates: keep it off the cluster), one certificate for the scheduler
and the workers (``node.pem``, ``node.key``) and one for the coordinator that runs ``make grade``
(``client.pem``, ``client.key``). Dask requires on every connection a certificate signed by
``ca.pem``, in both directions, so a process without one can neither join as a worker nor submit code
as a client (docs/cluster.md)::

    python -m autograde.clustercerts ~/grade-certs
    make grade ... GRADE_ARGS="--scheduler tls://HOST:8786 --tls-ca ~/grade-certs/ca.pem \\
        --tls-cert ~/grade-certs/client.pem --tls-key ~/grade-certs/client.key"
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

from autograde.rules import LIMIT

DAYS = LIMIT["cert_days"]  # certificates expire: make new ones for each term


def _name(common: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dl-course grading"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key) -> None:
    from cryptography.hazmat.primitives import serialization

    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # readable by its owner only
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _cert(subject: str, key, issuer: str, issuer_key, ca: bool, days: int):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def make_certs(folder: Path, days: int = DAYS) -> dict[str, Path]:
    """Write a CA, a scheduler/worker certificate and a client certificate in ``folder``; their paths.

    >>> paths = make_certs(Path("/tmp/grade-certs"))   # doctest: +SKIP
    >>> sorted(paths)                                   # doctest: +SKIP
    ['ca', 'ca_key', 'client_cert', 'client_key', 'node_cert', 'node_key']
    """
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise SystemExit("making certificates needs the cryptography package (requirements.txt)") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    ca_key = _key()
    ca = _cert("dl-course grading CA", ca_key, "dl-course grading CA", ca_key, True, days)
    for name, key, cert in [("ca", ca_key, ca)] + [
        (who, k, _cert(f"dl-course grading {who}", k, "dl-course grading CA", ca_key, False, days))
        for who, k in (("node", _key()), ("client", _key()))
    ]:
        pem = folder / f"{name}.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(folder / f"{name}.key", key)
        paths["ca" if name == "ca" else f"{name}_cert"] = pem
        paths[f"{name}_key"] = folder / f"{name}.key"
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="where to write the certificates (created)")
    p.add_argument("--days", type=int, default=DAYS, help=f"validity in days (default {DAYS})")
    args = p.parse_args(argv)
    if args.days < 1:
        p.error("--days must be at least 1")
    paths = make_certs(args.folder, args.days)
    d = args.folder
    print(
        f"Wrote {', '.join(str(v.name) for v in paths.values())} in {d}.\n"
        f"Scheduler and workers: --tls-ca-file {d}/ca.pem --tls-cert {d}/node.pem --tls-key {d}/node.key\n"
        f"make grade: --scheduler tls://HOST:8786 --tls-ca {d}/ca.pem --tls-cert {d}/client.pem "
        f"--tls-key {d}/client.key\nKeep ca.key off the cluster (it makes new certificates)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
