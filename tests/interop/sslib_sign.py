"""Sign a statement with Python securesystemslib, an independent DSSE implementation.

usage: sslib_sign.py ALGORITHM STATEMENT_JSON OUT_PREFIX

ALGORITHM is ed25519 or ecdsa. Generates a fresh key with `cryptography`, writes its public key to
OUT_PREFIX.pub (SPKI PEM), and writes the signed envelope as one JSON line to
OUT_PREFIX.intoto.jsonl. Prints the key id securesystemslib assigned.
"""

import json
import sys

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner


def main() -> int:
    algorithm, statement_path, prefix = sys.argv[1:]
    if algorithm == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ecdsa":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise SystemExit(f"unknown algorithm {algorithm}")
    signer = CryptoSigner(private)
    with open(statement_path, "rb") as f:
        payload = f.read()
    envelope = Envelope(payload, "application/vnd.in-toto+json", {})
    envelope.sign(signer)
    with open(prefix + ".pub", "wb") as f:
        f.write(private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    with open(prefix + ".intoto.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps(envelope.to_dict()) + "\n")
    print(signer.public_key.keyid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
