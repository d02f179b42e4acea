#!/usr/bin/env python3
"""Reads and rewrites an environment's image file, environments/<env>/image/kustomization.yaml.

That file is a Kustomize Component holding only an `images:` list, one entry per image:

    images:
      - name: ghcr.io/acme-sre/document-proxy
        digest: sha256:<64 hex>        # or: newTag: "1.2.3"

Commands (run from anywhere; paths are relative to the repository root):
    images.py set <env> <image-ref>    ref: <name>@sha256:<64 hex> | <name>:<tag> | <name>:<tag>@sha256:...
    images.py get <env> <name>         prints <name>@<digest> or <name>:<tag>
    images.py list <env>               prints every entry's ref, one a line

`set` edits only the matching entry's lines (comments and layout are kept), re-reads the file and
checks that nothing else in it changed. Errors name the file and the reason and exit 2.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ENV_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# registry[:port]/path, lower case as OCI requires; then an optional tag and an optional digest.
REF_RE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


class Failure(Exception):
    """An error for the person running the script: file and reason."""


def image_file(env: str) -> Path:
    if not ENV_RE.match(env):
        raise Failure(f"environment {env!r}: not a valid environment name (lower case, digits, '-')")
    env_dir = ROOT / "environments" / env
    if not env_dir.is_dir():
        known = sorted(p.name for p in (ROOT / "environments").iterdir() if (p / "image").is_dir())
        raise Failure(f"environments/{env}: no such environment (known: {', '.join(known) or 'none'})")
    path = env_dir / "image" / "kustomization.yaml"
    if not path.is_file():
        raise Failure(f"{rel(path)}: missing (every environment keeps its image refs there)")
    return path


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_ref(ref: str) -> dict:
    match = REF_RE.match(ref)
    if not match:
        raise Failure(
            f"image ref {ref!r}: malformed; expected <registry>/<repo>@sha256:<64 hex> "
            "or <registry>/<repo>:<tag>"
        )
    parts = match.groupdict()
    if not parts["tag"] and not parts["digest"]:
        raise Failure(f"image ref {ref!r}: has neither a tag nor a digest (':<tag>' or '@sha256:...')")
    return parts


def load(path: Path) -> tuple[str, list]:
    text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise Failure(f"{rel(path)}: not valid YAML: {err}") from err
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, list) or not all(isinstance(i, dict) and "name" in i for i in images):
        raise Failure(f"{rel(path)}: expected an `images:` list of entries with a `name`")
    return text, images


def entry_ref(entry: dict) -> str:
    if entry.get("digest"):
        return f"{entry['name']}@{entry['digest']}"
    if entry.get("newTag") is not None:
        return f"{entry['name']}:{entry['newTag']}"
    raise Failure(f"entry {entry['name']}: has neither newTag nor digest")


def find(images: list, name: str, path: Path) -> dict:
    for entry in images:
        if entry["name"] == name:
            return entry
    known = ", ".join(e["name"] for e in images)
    raise Failure(f"{rel(path)}: no entry for image {name} (entries: {known})")


def rewrite(text: str, name: str, key: str, value: str, path: Path) -> str:
    """Replaces the tag/digest lines of the `- name: <name>` list item, keeping everything else."""
    lines = text.splitlines(keepends=True)
    item_re = re.compile(r"^(?P<indent>\s*)-\s+name:\s*[\"']?(?P<name>[^\"'#\s]+)[\"']?\s*(#.*)?$")
    for i, line in enumerate(lines):
        match = item_re.match(line.rstrip("\n"))
        if not match or match["name"] != name:
            continue
        field_indent = " " * (len(match["indent"]) + 2)
        end = i + 1
        while end < len(lines):
            stripped = lines[end].strip()
            indent = len(lines[end]) - len(lines[end].lstrip())
            if stripped and (indent <= len(match["indent"]) or stripped.startswith("- ")):
                break
            end += 1
        body = lines[i + 1 : end]
        if any(re.match(r"\s*newName\s*:", b) for b in body):
            raise Failure(f"{rel(path)}: entry {name} sets newName; set-image manages tag/digest only")
        kept = [b for b in body if not re.match(r"\s*(newTag|digest)\s*:", b)]
        quoted = f'"{value}"' if key == "newTag" else value
        head = lines[: i + 1]
        if not head[-1].endswith("\n"):
            head[-1] += "\n"
        return "".join(head + [f"{field_indent}{key}: {quoted}\n"] + kept + lines[end:])
    raise Failure(f"{rel(path)}: could not find the `- name: {name}` line to edit")


def cmd_set(env: str, ref: str) -> None:
    path = image_file(env)
    parts = parse_ref(ref)
    text, images = load(path)
    before = find(images, parts["name"], path)
    old_ref = entry_ref(before)
    key, value = ("digest", parts["digest"]) if parts["digest"] else ("newTag", parts["tag"])
    new_text = rewrite(text, parts["name"], key, value, path)
    # Re-read: only this entry's tag/digest may differ from the original.
    expected = yaml.safe_load(text)
    for entry in expected["images"]:
        if entry["name"] == parts["name"]:
            entry.pop("newTag", None)
            entry.pop("digest", None)
            entry[key] = value
    if yaml.safe_load(new_text) != expected:
        raise Failure(f"{rel(path)}: internal error: the edit would change more than {parts['name']}")
    if new_text != text:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".set-image-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    new_ref = f"{parts['name']}@{value}" if key == "digest" else f"{parts['name']}:{value}"
    status = "unchanged" if new_text == text else f"was {old_ref}"
    print(f"set-image: {rel(path)}: {new_ref} ({status})")


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "set":
            cmd_set(argv[1], argv[2])
        elif len(argv) == 3 and argv[0] == "get":
            path = image_file(argv[1])
            print(entry_ref(find(load(path)[1], argv[2], path)))
        elif len(argv) == 2 and argv[0] == "list":
            for entry in load(image_file(argv[1]))[1]:
                print(entry_ref(entry))
        else:
            print(__doc__.strip().split("\n\n")[2], file=sys.stderr)
            return 2
    except Failure as err:
        print(f"set-image: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"set-image: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
