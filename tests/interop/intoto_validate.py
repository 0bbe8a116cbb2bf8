"""Validate a signed statement with the in-toto-attestation Python bindings (protobuf based).

usage: intoto_validate.py ENVELOPE_JSONL

Decodes the first envelope's payload, parses it strictly (unknown fields rejected) into the
Statement v1 protobuf, runs the bindings' own `validate()`, then parses the predicate strictly
into the SLSA Provenance v1 protobuf and checks the fields the reference validator requires.
Prints `ok` and exits 0, or prints the error and exits 1.
"""

import base64
import json
import sys

from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        envelope = json.loads(f.readline())
    payload = base64.b64decode(envelope["payload"])
    try:
        pb = json_format.Parse(payload, statement_pb2.Statement(), ignore_unknown_fields=False)
        Statement.copy_from_pb(pb).validate()
        if pb.predicate_type == "https://slsa.dev/provenance/v1":
            predicate = json.loads(payload)["predicate"]
            prov = json_format.ParseDict(
                predicate, provenance_pb2.Provenance(), ignore_unknown_fields=False
            )
            bd, rd = prov.build_definition, prov.run_details
            if not bd.build_type:
                raise ValueError("buildDefinition.buildType required")
            if not prov.HasField("build_definition") or not bd.HasField("external_parameters"):
                raise ValueError("buildDefinition.externalParameters required")
            if not prov.HasField("run_details") or not rd.builder.id:
                raise ValueError("runDetails.builder.id required")
            for rd_pb in list(bd.resolved_dependencies) + list(rd.byproducts):
                if not (rd_pb.name or rd_pb.uri or rd_pb.digest):
                    raise ValueError("resource descriptor without name, uri or digest")
    except Exception as err:  # noqa: BLE001 - report any validation failure
        print(f"invalid: {err}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
