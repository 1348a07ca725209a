#!/usr/bin/env python3
"""Config contexts for the benchmark dataset (../shared/bench/dataset.md), in the import format.

98 active contexts: a global one, one per region (2) and per site (80, by location), per role (3),
platform (2), tenant (5) and tag (5). Usage:

    python3 scripts/bench-contexts.py > contexts.json
    target/release/ferrobot --database-url sqlite://target/bench/10000x48/bench.sqlite3 import contexts.json
"""

import json
import sys

contexts = [{
    "name": "global", "weight": 100,
    "data": {"ntp": {"servers": ["10.0.0.1", "10.0.0.2"]},
             "snmp": {"community": "public", "contact": "noc@example.com", "location": "unknown"},
             "syslog": ["10.0.0.9"], "dns": ["10.0.0.53"], "banner": "Authorized access only"},
}]
for r in (1, 2):
    contexts.append({"name": f"region-{r}", "weight": 200, "locations": [f"region-{r}"],
                     "data": {"snmp": {"location": f"region-{r}"}, "ntp": {"region": r}}})
for k in range(1, 81):
    contexts.append({"name": f"site-{k:03d}", "weight": 300, "locations": [f"site-{k:03d}"],
                     "data": {"site": {"id": k, "vlans": [100 + k, 200 + k]}}})
for role in ("leaf", "spine", "border"):
    contexts.append({"name": f"role-{role}", "weight": 250, "roles": [role],
                     "data": {"role": {"name": role, "bgp": {"asn": 65000 + len(role)}}}})
for platform in ("acme-os", "globex-os"):
    contexts.append({"name": f"platform-{platform}", "weight": 260, "platforms": [platform],
                     "data": {"os": platform}})
for t in range(1, 6):
    contexts.append({"name": f"tenant-{t}", "weight": 270, "tenants": [f"tenant-{t}"],
                     "data": {"tenant": {"id": t}}})
for t in range(1, 6):
    contexts.append({"name": f"tag-{t}", "weight": 280, "tags": [f"tag-{t}"],
                     "data": {"tags": {f"t{t}": True}}})
json.dump({"extras.configcontext": contexts}, sys.stdout)
