"""Verify every envelope of a JSON Lines bundle with Python securesystemslib (threshold 1).

usage: sslib_verify_many.py BUNDLE_JSONL PUBLIC_KEY_PEM

The baseline of `cargo bench --bench perf` (group `verify`): parse each line, verify its DSSE
signature with securesystemslib (Ed25519 through `cryptography`, i.e. OpenSSL), and parse the
verified payload as JSON, as `codex-attest verify` does. Exits 1 if any envelope fails.
"""

import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main() -> int:
    bundle, key_path = sys.argv[1:]
    with open(key_path, "rb") as f:
        key = SSlibKey.from_crypto(load_pem_public_key(f.read()))
    count = 0
    with open(bundle, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            envelope = Envelope.from_dict(json.loads(line))
            envelope.verify([key], 1)
            json.loads(envelope.payload)
            count += 1
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
