#!/usr/bin/env python3
"""Dynamic groups for the benchmark dataset (../shared/bench/dataset.md), in the import format.

25 groups of devices: one per region (2, by location, which takes the sites under it), per role
(3), platform (2), tenant (5) and tag (5); five by name prefix (`dev-0`, … `dev-4`, name__isw);
two groups of groups (the leafs of region 1 without tag 1; the spines or the borders). Usage:

    python3 scripts/bench-groups.py > groups.json
    target/release/ferrobot --database-url sqlite://target/bench/10000x48/bench.sqlite3 import groups.json
"""

import json
import sys

groups = []
def group(name, **filter):
    groups.append({"name": name, "content_type": "dcim.device", "filter": filter})

for r in (1, 2):
    group(f"region-{r}", location=[f"region-{r}"])
for role in ("leaf", "spine", "border"):
    group(f"role-{role}", role=[role])
for platform in ("acme-os", "globex-os"):
    group(f"platform-{platform}", platform=[platform])
for t in range(1, 6):
    group(f"tenant-{t}", tenant=[f"tenant-{t}"])
for t in range(1, 6):
    group(f"tag-{t}", tags=[f"tag-{t}"])
for p in range(5):
    group(f"prefix-{p}", name__isw=[f"dev-{p}"])
groups.append({"name": "leafs-r1-untagged", "content_type": "dcim.device", "group_type": "dynamic-set"})
groups.append({"name": "spines-or-borders", "content_type": "dcim.device", "group_type": "dynamic-set"})
memberships = [
    {"parent_group": "leafs-r1-untagged", "group": "role-leaf", "operator": "union", "weight": 10},
    {"parent_group": "leafs-r1-untagged", "group": "region-1", "operator": "intersection", "weight": 20},
    {"parent_group": "leafs-r1-untagged", "group": "tag-1", "operator": "difference", "weight": 30},
    {"parent_group": "spines-or-borders", "group": "role-spine", "operator": "union", "weight": 10},
    {"parent_group": "spines-or-borders", "group": "role-border", "operator": "union", "weight": 20},
]
json.dump({"extras.dynamicgroup": groups, "extras.dynamicgroupmembership": memberships}, sys.stdout)
