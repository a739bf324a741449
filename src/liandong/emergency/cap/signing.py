"""Optional enveloped XML signature (XML-DSig, RSA or ECDSA with SHA-256) of issued documents, with ``signxml``.

CAP 1.2 allows one ``ds:Signature`` as the alert's last child; receivers check it against the certificate it
carries. Signing is on when both ``cap_signing_key`` and ``cap_signing_cert`` name PEM files.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from liandong.config import Settings
from liandong.emergency.cap import safe


def enabled(settings: Settings) -> bool:
    return bool(settings.cap_signing_key and settings.cap_signing_cert)


def sign(document: bytes, settings: Settings) -> bytes:
    """``document`` with an enveloped signature appended to its root (the key and certificate read each time, so
    a renewed certificate needs no restart)."""
    from signxml import XMLSigner, methods

    key = Path(settings.cap_signing_key).read_bytes()
    cert = Path(settings.cap_signing_cert).read_bytes()
    root = safe.parse(document)
    signer = XMLSigner(method=methods.enveloped, signature_algorithm=_algorithm(key), digest_algorithm="sha256",
                       c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    signed = signer.sign(root, key=key, cert=cert.decode("ascii"))
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def _algorithm(key_pem: bytes) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(key_pem, password=None)
    return "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"


def verify(document: bytes, cert_pem: bytes) -> etree._Element:
    """The signed root when the signature holds for ``cert_pem``; signxml's ``InvalidSignature`` otherwise."""
    from signxml import XMLVerifier

    root = safe.parse(document)
    return XMLVerifier().verify(root, x509_cert=cert_pem.decode("ascii")).signed_xml
