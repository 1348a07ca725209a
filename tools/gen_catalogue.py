#!/usr/bin/env python3
"""Draft catalogue files for a set of Nautobot models from the reference facts.

Reads ../shared/reference/nautobot-models.json (fields, natural keys, orderings, filtersets) and
nautobot-schema.graphql (root field names, GraphQL field types, list-field filter arguments), and
writes schema/models/<app>.yaml in Ferrobot's own catalogue format.

The output is committed and is the source of truth from then on; this script is the way a new
slice of models is drafted. Anything it cannot express is reported on stderr, not guessed.

Usage (from the project root): python3 tools/gen_catalogue.py ../shared/reference OUT_DIR
Then merge what is new into schema/models by hand; the files there carry edits.
"""

import collections
import json
import re
import sys

import yaml

# The slice: every reference model that schema/excluded.yaml does not keep out.
EXCLUDED = yaml.safe_load(open("schema/excluded.yaml"))
SLICE = [
    m["label"]
    for m in json.load(open("../shared/reference/nautobot-models.json"))["models"]
    if m["label"] not in EXCLUDED["models"]
]

# Fields Ferrobot keeps out of the catalogue on purpose, with their reasons in the same file.
SKIP_FIELDS = {tuple(k.rsplit(".", 1)) for k in EXCLUDED["fields"]}

FK_KINDS = {
    "ForeignKeyLimitedByContentTypes",
    "ForeignKey",
    "ForeignKeyWithAutoRelatedName",
    "StatusField",
    "RoleField",
    "TreeNodeForeignKey",
    "OneToOneField",
}
STRING_KINDS = {
    "CharField",
    "EmailField",
    "ColorField",
    "AutoSlugField",
    "MACAddressCharField",
    "TimeZoneField",
    "PositiveRangeNumberTextField",
    "SlugField",
    "URLField",
    "LaxURLField",
}
INT_KINDS = {
    "IntegerField": "int",
    "PositiveSmallIntegerField": "small",
    "PositiveIntegerField": "int",
    "SmallIntegerField": "small",
    "BigIntegerField": "big",
    "ASNField": "big",
    "PositiveBigIntegerField": "big",
}

LOOKUP_SUFFIX = {
    ("exact", False): "",
    ("exact", True): "n",
    ("icontains", False): "ic",
    ("icontains", True): "nic",
    ("iendswith", False): "iew",
    ("iendswith", True): "niew",
    ("istartswith", False): "isw",
    ("istartswith", True): "nisw",
    ("iexact", False): "ie",
    ("iexact", True): "nie",
    ("regex", False): "re",
    ("regex", True): "nre",
    ("iregex", False): "ire",
    ("iregex", True): "nire",
    ("isnull", False): "isnull",
    ("gt", False): "gt",
    ("gte", False): "gte",
    ("lt", False): "lt",
    ("lte", False): "lte",
}

RELATED_FILTERS = {
    "NaturalKeyOrPKMultipleChoiceFilter",
    "ModelMultipleChoiceFilter",
    "ModelChoiceFilter",
    "StatusFilter",
    "RoleFilter",
    "TagFilter",
}

SEARCH_CANDIDATES = [
    "name", "label", "model", "part_number", "serial", "asset_tag", "description", "comments",
    "facility", "key", "username", "dns_name", "rd", "mac_address", "cid",
]


# Values Nautobot derives from stored columns and serves as plain fields.
COMPUTED = {
    "ipam.ipaddress": [{"name": "address", "kind": "ip_interface", "from": ["host", "mask_length"]}],
    "ipam.prefix": [{"name": "prefix", "kind": "ip_network", "from": ["network", "prefix_length"]}],
}


# Relations through another model's rows (cable ends), for every kind of cable end: its cable,
# its cable peer (the far end of its cable; the member kinds are those the pairing rules let face
# it: nautobot/dcim/constants.py COMPATIBLE_TERMINATION_TYPES), and for path endpoints the
# connected endpoint (the destination of its stored cable path).
ENDS = {
    "circuits.circuittermination": "circuit_termination",
    "dcim.consoleport": "console_port",
    "dcim.consoleserverport": "console_server_port",
    "dcim.frontport": "front_port",
    "dcim.interface": "interface",
    "dcim.powerfeed": "power_feed",
    "dcim.poweroutlet": "power_outlet",
    "dcim.powerport": "power_port",
    "dcim.rearport": "rear_port",
}
PASS_THROUGH = {"dcim.frontport", "dcim.rearport"}
FACING = {
    "circuits.circuittermination": ["dcim.interface", "dcim.frontport", "dcim.rearport", "circuits.circuittermination"],
    "dcim.consoleport": ["dcim.consoleserverport", "dcim.frontport", "dcim.rearport"],
    "dcim.consoleserverport": ["dcim.consoleport", "dcim.frontport", "dcim.rearport"],
    "dcim.interface": ["dcim.interface", "circuits.circuittermination", "dcim.frontport", "dcim.rearport"],
    "dcim.frontport": ["dcim.interface", "dcim.frontport", "dcim.rearport", "circuits.circuittermination",
                       "dcim.consoleport", "dcim.consoleserverport"],
    "dcim.powerfeed": ["dcim.powerport"],
    "dcim.poweroutlet": ["dcim.powerport"],
    "dcim.powerport": ["dcim.poweroutlet", "dcim.powerfeed"],
}
FACING["dcim.rearport"] = FACING["dcim.frontport"]


def destinations(origin):
    """The path endpoint kinds a path from `origin` can end on (through patch panels)."""
    seen, todo, out = set(), list(FACING[origin]), set()
    while todo:
        kind = todo.pop()
        if kind in seen:
            continue
        seen.add(kind)
        if kind in PASS_THROUGH:
            todo.extend(FACING[kind])
        else:
            out.add(kind)
    return sorted(out)


LINKS = {}
for label, column in ENDS.items():
    links = [
        {"name": "cable", "kind": "through", "via": "dcim.cabletocabletermination", "source": column,
         "target": "cable"},
        {"name": "cable_peer", "kind": "peer", "via": "dcim.cabletocabletermination", "source": column,
         "group": "cable", "side": "cable_end", "targets": [ENDS[k] for k in FACING[label]],
         "union": "CableTerminationTypes"},
    ]
    # Nautobot's typed forms: `cable_peer_<kind>`, and `connected_<kind>` for the kinds that
    # may face it directly.
    for kind in sorted(FACING[label], key=lambda k: ENDS[k]):
        links.append(
            {"name": f"cable_peer_{ENDS[kind]}", "kind": "peer", "via": "dcim.cabletocabletermination",
             "source": column, "group": "cable", "side": "cable_end", "targets": [ENDS[kind]]}
        )
    if label not in PASS_THROUGH:
        for kind in sorted((k for k in FACING[label] if k not in PASS_THROUGH), key=lambda k: ENDS[k]):
            links.append(
                {"name": f"connected_{ENDS[kind]}", "kind": "through", "via": "dcim.cablepath",
                 "source": "origin_id", "source_type": "origin_type", "target": "destination_id",
                 "target_type": "destination_type", "targets": [kind]}
            )
        links.append(
            {"name": "connected_endpoint", "kind": "through", "via": "dcim.cablepath", "source": "origin_id",
             "source_type": "origin_type", "target": "destination_id", "target_type": "destination_type",
             "targets": destinations(label), "union": "PathEndpointTypes"}
        )
    LINKS[label] = links


def parse_sdl(path):
    """Return {type_name: {field: (type, {arg: type})}} for the object types of the SDL."""
    types = {}
    current = None
    field = None
    with open(path) as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            m = re.match(r"^type (\w+)", line)
            if m:
                current = types.setdefault(m.group(1), {})
                field = None
                continue
            if current is None:
                continue
            if line == "}":
                current = None
                continue
            m = re.match(r"^  (\w+)(\(.*\))?: (.+)$", line)
            if m:
                args = {}
                if m.group(2):
                    for a in m.group(2)[1:-1].split(", "):
                        n, t = a.split(": ")
                        args[n] = t
                current[m.group(1)] = (m.group(3), args)
                field = None
                continue
            m = re.match(r"^  (\w+)\($", line)
            if m:
                field = m.group(1)
                current[field] = (None, {})
                continue
            m = re.match(r"^    (\w+): (.+)$", line)
            if m and field:
                current[field][1][m.group(1)] = m.group(2)
                continue
            m = re.match(r"^  \): (.+)$", line)
            if m and field:
                current[field] = (m.group(1), current[field][1])
                field = None
    return types


def main():
    ref, out = sys.argv[1], sys.argv[2]
    data = json.load(open(f"{ref}/nautobot-models.json"))
    models = {m["label"]: m for m in data["models"]}
    sdl = parse_sdl(f"{ref}/nautobot-schema.graphql")
    query = sdl["Query"]
    in_slice = set(SLICE)
    warn = lambda *a: print(*a, file=sys.stderr)

    root_by_type = collections.defaultdict(dict)
    for name, (ty, _args) in query.items():
        bare = ty.strip("[]!")
        root_by_type[bare]["list" if ty.startswith("[") else "single"] = name

    apps = collections.OrderedDict()
    for label in SLICE:
        m = models[label]
        gql_type = m["class"] + "Type"
        if gql_type not in sdl:
            warn(f"{label}: no GraphQL type {gql_type}")
            gql_type = None
        sdl_fields = sdl.get(gql_type, {}) if gql_type else {}
        feats = m["features"]
        entry = collections.OrderedDict()
        entry["model"] = m["model"]
        entry["class"] = m["class"]
        entry["verbose_name"] = m["verbose_name"]
        entry["verbose_name_plural"] = m["verbose_name_plural"]
        entry["table"] = m["db_table"]
        if gql_type:
            g = collections.OrderedDict(type=gql_type)
            g.update(sorted(root_by_type.get(gql_type, {}).items()))
            entry["graphql"] = dict(g)
        features = [
            k for k in ("custom_fields", "tags", "status", "role", "contacts") if feats.get(k)
        ]
        if features:
            entry["features"] = features
        nk = m["natural_key"]["natural_key_field_lookups"]
        if nk and nk != ["pk"]:
            entry["natural_key"] = nk
        ordering = []
        for o in m["ordering"]:
            o = o.replace("CollateAsChar(F(_name))", "_name")
            ordering.append(o)
        if ordering:
            entry["ordering"] = ordering
        if m["unique_together"]:
            entry["unique_together"] = m["unique_together"]
        if m["tree"]:
            entry["tree"] = True

        fields = []
        natural = {f["name"] for f in m["fields"] if f["kind"] == "NaturalOrderingField"}
        for f in m["fields"]:
            if f.get("reverse") or f["kind"] in ("GenericRelation", "GenericForeignKey", "NaturalOrderingField"):
                continue
            name = f["name"]
            if (label, name) in SKIP_FIELDS:
                continue
            kind = f["kind"]
            out_f = collections.OrderedDict(name=name)
            sdl_ty = (sdl_fields.get(name) or (None,))[0]
            if f.get("primary_key"):
                out_f["kind"] = "uuid"
                out_f["primary_key"] = True
            elif kind in FK_KINDS:
                target = f["related_model"]
                if target == "contenttypes.contenttype":
                    out_f["kind"] = "content_type"
                elif target not in in_slice:
                    warn(f"{label}.{name}: target {target} not in slice")
                    continue
                else:
                    out_f["kind"] = "foreign_key"
                    out_f["to"] = target
                    out_f["on_delete"] = f["on_delete"].lower()
                    rn = f.get("related_name") or ""
                    if rn and not rn.endswith("+"):
                        out_f["related_name"] = rn
                    if kind == "OneToOneField":
                        out_f["unique"] = True
            elif kind == "TagsField":
                continue  # the `tags` feature
            elif kind == "ManyToManyField":
                target = f["related_model"]
                if target == "contenttypes.contenttype":
                    out_f["kind"] = "content_types"
                elif target not in in_slice:
                    warn(f"{label}.{name}: m2m target {target} not in slice")
                    continue
                else:
                    through = f.get("through")
                    out_f["kind"] = "many_to_many"
                    out_f["to"] = target
                    if through in models:
                        if through not in in_slice:
                            warn(f"{label}.{name}: through {through} not in slice")
                            continue
                        out_f["through"] = through
                    rn = f.get("related_name") or f.get("reverse_accessor") or ""
                    if rn and not rn.endswith("+"):
                        out_f["related_name"] = rn
            elif kind in STRING_KINDS:
                if f.get("choices") and sdl_ty and sdl_ty.strip("!").endswith("Choices"):
                    out_f["kind"] = "choice"
                    out_f["choices"] = [[str(v), str(lab)] for v, lab in f["choices"]]
                else:
                    out_f["kind"] = "string"
                out_f["max_length"] = f.get("max_length") or 255
            elif kind in ("ImageField", "FileField"):
                out_f["kind"] = "string"
                out_f["max_length"] = f.get("max_length") or 100
            elif kind == "TextField":
                out_f["kind"] = "text"
            elif kind in INT_KINDS:
                out_f["kind"] = "integer"
                if INT_KINDS[kind] != "int":
                    out_f["size"] = INT_KINDS[kind]
                if kind.startswith("Positive"):
                    out_f["min"] = 0
            elif kind == "BooleanField":
                out_f["kind"] = "boolean"
            elif kind == "DateTimeField":
                out_f["kind"] = "datetime"
            elif kind == "DateField":
                out_f["kind"] = "date"
            elif kind == "DecimalField":
                out_f["kind"] = "decimal"
            elif kind in ("JSONField", "JSONArrayField", "JSONPathField"):
                out_f["kind"] = "json"
            elif kind == "UUIDField":
                out_f["kind"] = "uuid"
            elif kind == "VarbinaryIPField":
                out_f["kind"] = "ip_bytes"
            else:
                warn(f"{label}.{name}: unsupported kind {kind}")
                continue
            if f.get("null"):
                out_f["null"] = True
            if f.get("blank") and not f.get("null") and out_f["kind"] not in ("json",):
                out_f["blank"] = True
            if f.get("unique") and not f.get("primary_key"):
                out_f["unique"] = True
            if "_" + name in natural:
                out_f["natural_order"] = True
            if f.get("help_text"):
                out_f["help_text"] = f["help_text"]
            default = f.get("default", None)
            if "default" in f and not f.get("primary_key"):
                if isinstance(default, dict) and "callable" in default:
                    c = default["callable"]
                    mapped = {
                        "builtins.dict": {},
                        "builtins.list": [],
                        "django.utils.timezone.now": "now()",
                        "nautobot.ipam.models.get_default_namespace_pk": "natural_key(Global)",
                    }.get(c)
                    if mapped is None:
                        warn(f"{label}.{name}: callable default {c}")
                    else:
                        out_f["default"] = mapped
                elif default is not None:
                    out_f["default"] = default
            if name == "_custom_field_data":
                continue  # the `custom_fields` feature
            fields.append(dict(out_f))
        entry["fields"] = fields
        have = {f["name"] for f in fields}
        if "unique_together" in entry:
            groups = [g for g in entry["unique_together"] if all(n in have for n in g)]
            if groups:
                entry["unique_together"] = groups
            else:
                del entry["unique_together"]
        if "ordering" in entry:
            keep = []
            for o in entry["ordering"]:
                base = o.lstrip("-")
                base = base[:-3] if base.endswith("_id") and base[:-3] in have else base
                if base in have or base == "pk" or (base.startswith("_") and base[1:] in have):
                    keep.append(o)
                else:
                    warn(f"{label}: ordering {o} kept out")
            entry["ordering"] = keep
        if label in COMPUTED:
            entry["computed"] = COMPUTED[label]
        if label in LINKS:
            entry["links"] = LINKS[label]

        # Filters: the list field's arguments, grouped by base name.
        list_name = entry.get("graphql", {}).get("list")
        args = query.get(list_name, (None, {}))[1] if list_name else {}
        fs = (m["filterset"] or {"filters": {}})["filters"]
        field_names = {f["name"] for f in fields} | {"tags"}
        groups = collections.OrderedDict()
        for fname, arg_ty in args.items():
            if fname in ("limit", "offset"):
                continue
            spec = fs.get(fname)
            if spec is None and fname.startswith("_"):
                spec = fs.get(fname[1:])  # graphene renames the `type` filter to `_type`
            if spec is None:
                if fname.startswith("cf_"):
                    continue
                warn(f"{label}: argument {fname} has no filter")
                continue
            cls = spec["class"]
            lookup = LOOKUP_SUFFIX.get((spec["lookup_expr"], spec["exclude"]))
            if cls == "SearchFilter":
                groups["q"] = {"kind": "search"}
                continue
            if lookup is None:
                warn(f"{label}.{fname}: lookup {spec['lookup_expr']}")
                continue
            base = fname[: -len(lookup) - 2] if lookup and fname.endswith("__" + lookup) else fname
            if lookup and base == fname:
                lookup = ""  # e.g. `has_interfaces` (isnull under another name)
            path = spec["field_name"]
            if cls in RELATED_FILTERS:
                fk = "related"
            elif cls == "TreeNodeMultipleChoiceFilter":
                fk = "tree"
            elif cls == "RelatedMembershipBooleanFilter":
                fk = "has"
            elif cls == "ContentTypeMultipleChoiceFilter":
                fk = "content_type"
            elif cls == "BooleanFilter" and spec["lookup_expr"] == "isnull":
                # `x__isnull` is a lookup of the base `x`; a bare boolean is its own filter.
                if base == fname:
                    fk = "isnull"
                else:
                    g = groups.setdefault(base, {"path": path, "kind": None, "lookups": []})
                    g["lookups"].append("isnull")
                    continue
            elif cls in ("BooleanFilter",):
                fk = "boolean"
            elif cls == "PrefixFilter":
                fk = "prefix"
            elif cls in ("MultiValueNumberFilter", "NumberFilter", "MultiValueBigNumberFilter"):
                fk = "number"
            elif cls == "MultiValueDecimalFilter":
                fk = "decimal"
            elif cls == "MultiValueDateTimeFilter":
                fk = "datetime"
            elif cls in ("MultiValueUUIDFilter", "UUIDFilter"):
                fk = "uuid"
            else:
                fk = "text"
            first = path.split("__")[0]
            if first not in field_names and fk not in ("has", "related", "tree"):
                warn(f"{label}.{fname}: path {path} not resolvable (kept out)")
                continue
            g = groups.setdefault(base, {"path": path, "kind": fk, "lookups": []})
            if g["kind"] is None:
                g["kind"] = fk
                g["path"] = path
            g["lookups"].append(lookup or "exact")
            t = arg_ty.strip("[]!")
            if t not in ("String",) and lookup in ("", "exact"):
                g["type"] = t
        flt = collections.OrderedDict()
        for base, g in groups.items():
            if g.get("kind") is None:
                continue
            item = collections.OrderedDict()
            if g.get("path") and g["path"] != base:
                item["path"] = g["path"]
            item["kind"] = g["kind"]
            if g.get("type"):
                item["type"] = g["type"]
            if g.get("lookups") and g["lookups"] != ["exact"]:
                item["lookups"] = g["lookups"]
            flt[base] = dict(item)
        entry["filters"] = dict(flt)
        search = [f["name"] for f in fields if f["name"] in SEARCH_CANDIDATES and f["kind"] in ("string", "text", "choice")]
        if "q" in flt and search:
            entry["search"] = search
        apps.setdefault(m["app_label"], []).append(dict(entry))

    prune_unresolvable_filters(apps, warn)
    for app, ms in apps.items():
        with open(f"{out}/{app}.yaml", "w") as fh:
            fh.write(f"# The {app} app of the core catalogue. Drafted by tools/gen_catalogue.py from the\n")
            fh.write("# Nautobot 3.2 reference facts; edited by hand from then on.\n")
            yaml.safe_dump({"app": app, "models": ms}, fh, sort_keys=False, width=100, default_flow_style=None)


def prune_unresolvable_filters(apps, warn):
    """Drop filters whose path walks through a field or relation that is not in the slice."""
    entries = {f"{app}.{e['model']}": e for app, ms in apps.items() for e in ms}
    rel = collections.defaultdict(dict)  # label -> {name: target label}
    for label, e in entries.items():
        for f in e["fields"]:
            if f["kind"] in ("foreign_key", "many_to_many"):
                rel[label][f["name"]] = f["to"]
                if f.get("related_name"):
                    rel[f["to"]][f["related_name"]] = label
            else:
                rel[label].setdefault(f["name"], None)
        if "tags" in e.get("features", []):
            rel[label]["tags"] = "extras.tag"
        # Generic relations (declared on the association models in schema/models/extras.yaml).
        if "contacts" in e.get("features", []):
            rel[label]["associated_contacts"] = "extras.contactassociation"
        rel[label]["associated_object_metadata"] = "extras.objectmetadata"
    for label, e in entries.items():
        keep = {}
        for base, flt in e.get("filters", {}).items():
            if flt["kind"] == "search":
                keep[base] = flt
                continue
            path = flt.get("path", base).split("__")
            current, ok = label, True
            for i, seg in enumerate(path):
                if current is None:
                    ok = False
                    break
                names = rel[current]
                if seg not in names and seg.endswith("_id") and seg[:-3] in names:
                    seg = seg[:-3]
                if seg not in names:
                    ok = False
                    break
                current = names[seg]
            if ok:
                keep[base] = flt
            else:
                warn(f"{label}: filter {base} ({flt.get('path', base)}) kept out")
        e["filters"] = keep


if __name__ == "__main__":
    main()
