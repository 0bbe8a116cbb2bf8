"""Verify a DSSE envelope with Python securesystemslib, an independent implementation.

usage: sslib_verify.py ENVELOPE_JSON PUBLIC_KEY_PEM [PUBLIC_KEY_PEM ...]

Prints one JSON object: the key ids securesystemslib computed for the keys, and the key ids whose
signatures it accepted. Exits 0 when the envelope verifies with threshold 1, 1 otherwise.
"""

import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey


def main() -> int:
    envelope_path, *key_paths = sys.argv[1:]
    with open(envelope_path, encoding="utf-8") as f:
        envelope = Envelope.from_dict(json.loads(f.read().splitlines()[0]))
    keys = []
    for path in key_paths:
        with open(path, "rb") as f:
            keys.append(SSlibKey.from_crypto(load_pem_public_key(f.read())))
    result = {"keyids": [k.keyid for k in keys], "schemes": [k.scheme for k in keys]}
    try:
        accepted = envelope.verify(keys, 1)
        result["accepted"] = sorted(accepted)
        result["payload"] = envelope.payload.decode("utf-8")
        code = 0
    except VerificationError as err:
        result["error"] = str(err)
        code = 1
    print(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main())
