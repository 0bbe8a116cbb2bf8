"""Parses a Prometheus text exposition file with the reference client library's parser
(prometheus_client) and prints {metric family: {"label=value,...": sample value}} as JSON.
Fails (non-zero) on anything the parser rejects."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
out = {}
for family in text_string_to_metric_families(text):
    samples = out.setdefault(family.name, {})
    for sample in family.samples:
        if sample.name.endswith("_created"):
            continue
        key = ",".join(f"{k}={v}" for k, v in sample.labels.items())
        samples[key] = sample.value
print(json.dumps(out, sort_keys=True))
