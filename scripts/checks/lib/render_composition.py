"""Renders a Composition's function-patch-and-transform resources for a sample XR, offline, so the
composed resources can be validated against their providers' schemas with the fields the patches
fill in (region, names, sizes) and not only their bare `base`.

`crossplane render` would run the real function, but it needs a container engine for it, which
the machines this repository is developed on do not have. This implements the subset of
function-patch-and-transform v0.9 the repo's Compositions use, and fails on anything else rather
than skipping it: patch types PatchSet, FromCompositeFieldPath, CombineFromComposite (strategy
string); transforms string/Format and convert/string; field paths with `.name`, `[key]`, `[0]`.
XRD defaults are applied to the XR first (the API server does that); a FromCompositeFieldPath
whose source is missing is skipped (the function's default Optional policy). Composed resources of
a namespaced XR land in its namespace (Crossplane v2)."""
from __future__ import annotations

import copy
import re

TOKEN = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")
MISSING = object()


class Unsupported(Exception):
    pass


def parse(path: str) -> list:
    out = []
    for name, index in TOKEN.findall(path):
        key = name or index
        out.append(int(key) if key.isdigit() else key)
    return out


def get(obj, path: str):
    for key in parse(path):
        if isinstance(key, int):
            if not isinstance(obj, list) or key >= len(obj):
                return MISSING
            obj = obj[key]
        elif isinstance(obj, dict) and key in obj:
            obj = obj[key]
        else:
            return MISSING
    return obj


def put(obj, path: str, value) -> None:
    keys = parse(path)
    for key, nxt in zip(keys, keys[1:]):
        if isinstance(key, int):
            while len(obj) <= key:
                obj.append({} if not isinstance(nxt, int) else [])
            obj = obj[key]
        else:
            obj = obj.setdefault(key, [] if isinstance(nxt, int) else {})
    last = keys[-1]
    if isinstance(last, int):
        while len(obj) <= last:
            obj.append(None)
    obj[last] = copy.deepcopy(value)


def apply_defaults(schema: dict, value):
    """OpenAPI `default`s into an object, like the API server's structural defaulting."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    for name, sub in (schema.get("properties") or {}).items():
        if name not in value and "default" in sub:
            value[name] = copy.deepcopy(sub["default"])
        if name in value:
            value[name] = apply_defaults(sub, value[name])
    return value


def transform(value, transforms: list[dict]):
    for t in transforms or []:
        if t.get("type") == "string" and (t.get("string") or {}).get("type") == "Format":
            value = go_format(t["string"]["fmt"], [value])
        elif t.get("type") == "convert" and (t.get("convert") or {}).get("toType") == "string":
            value = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            raise Unsupported(f"transform {t} is not supported by this renderer")
    return value


def go_format(fmt: str, args: list) -> str:
    """Go's fmt.Sprintf for %s and explicit-index %[n]s verbs."""
    if re.search(r"%(?!\[\d+\]s|s|%)", fmt):
        raise Unsupported(f"format {fmt!r}: only %s and %[n]s verbs are supported by this renderer")
    position = iter(range(len(args)))

    def sub(m):
        index = int(m.group(1)) - 1 if m.group(1) else next(position)
        return str(args[index])
    return re.sub(r"%(?:\[(\d+)\])?s", sub, fmt.replace("%%", "\0")).replace("\0", "%")


def apply_patch(patch: dict, xr: dict, res: dict, patch_sets: dict) -> None:
    kind = patch.get("type", "FromCompositeFieldPath")
    if kind == "PatchSet":
        for p in patch_sets[patch["patchSetName"]]:
            apply_patch(p, xr, res, patch_sets)
    elif kind == "FromCompositeFieldPath":
        value = get(xr, patch["fromFieldPath"])
        if value is not MISSING:
            put(res, patch.get("toFieldPath", patch["fromFieldPath"]), transform(value, patch.get("transforms")))
    elif kind == "CombineFromComposite":
        combine = patch["combine"]
        if combine.get("strategy") != "string":
            raise Unsupported(f"combine strategy {combine.get('strategy')!r} is not supported by this renderer")
        values = [get(xr, v["fromFieldPath"]) for v in combine["variables"]]
        if MISSING not in values:
            put(res, patch["toFieldPath"], transform(go_format(combine["string"]["fmt"], values), patch.get("transforms")))
    else:
        raise Unsupported(f"patch type {kind!r} is not supported by this renderer")


def render(composition: dict, xr: dict, xr_schema: dict | None, namespaced: bool) -> list[tuple[str, dict]]:
    """-> [(resource name, composed resource)] for one XR."""
    xr = apply_defaults(xr_schema or {}, copy.deepcopy(xr))
    out = []
    for step in composition["spec"].get("pipeline") or []:
        fn_input = step.get("input") or {}
        if fn_input.get("kind") != "Resources":
            raise Unsupported(f"step {step.get('step')}: only function-patch-and-transform Resources can be rendered")
        patch_sets = {ps["name"]: ps["patches"] for ps in fn_input.get("patchSets") or []}
        for res in fn_input.get("resources") or []:
            doc = copy.deepcopy(res["base"])
            for patch in res.get("patches") or []:
                apply_patch(patch, xr, doc, patch_sets)
            md = doc.setdefault("metadata", {})
            md.setdefault("name", f"{xr['metadata']['name']}-{res['name']}")
            md.setdefault("labels", {})["crossplane.io/composite"] = xr["metadata"]["name"]
            if namespaced and xr["metadata"].get("namespace"):
                md.setdefault("namespace", xr["metadata"]["namespace"])
            out.append((res["name"], doc))
    return out
