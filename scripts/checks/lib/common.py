"""Shared helpers for the checks (scripts/checks/): finding and rendering
Kustomizations, loading YAML, and reporting violations as `file: message` lines."""
from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
REPO_URL = "https://github.com/acme-sre/document-proxy-platform.git"
# Folders this repo keeps manifests in (plain files are validated as well as rendered output).
MANIFEST_DIRS = ("app/deploy", "environments", "crossplane", "argocd", "platform")
SKIP_DIRS = {".git", "target", "node_modules", ".tools", "bench-results"}


def rel(path: Path | str) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


class Report:
    """Collects violations; prints them grouped per check and exits non-zero if there were any."""

    def __init__(self, check: str):
        self.check = check
        self.errors: list[str] = []
        self.notes: list[str] = []

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def note(self, message: str) -> None:
        self.notes.append(message)

    def finish(self, summary: str) -> None:
        status = finish(self.check, self.errors, summary, self.notes)
        if status:
            sys.exit(status)


def finish(check: str, errors: list[str], summary: str, notes: list[str] = ()) -> int:
    """Every check's ending: the notes, then each problem on stderr and 1, or `check: ok (summary)` and 0."""
    for n in notes:
        print(f"  note: {n}")
    if errors:
        for e in errors:
            print(f"  FAIL [{check}] {e}", file=sys.stderr)
        print(f"{check}: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"{check}: ok ({summary})")
    return 0


def root_argument() -> Path:
    """The repository a check reads: its first argument (the defect tests pass a mutated copy), else this one."""
    return Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT


def walk_files(top: Path, names: tuple[str, ...] = (), suffixes: tuple[str, ...] = ()):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for f in sorted(filenames):
            if (names and f in names) or (suffixes and f.endswith(suffixes)):
                yield Path(dirpath) / f


# libyaml's parser where PyYAML has it (its wheels do): the checks parse every rendered manifest,
# and with the pure-Python parser that was most of their time.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str):
    """One YAML document, as yaml.safe_load reads it."""
    return yaml.load(text, Loader=SafeLoader)


def parse_docs(stream) -> list[dict]:
    """Every non-empty document of a YAML stream (text or file), as yaml.safe_load_all reads them."""
    return [d for d in yaml.load_all(stream, Loader=SafeLoader) if d is not None]


def load_docs(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return parse_docs(fh)


def kustomization_dirs() -> list[Path]:
    """Every folder with a kustomization.yaml in the repo (Components included)."""
    return sorted(p.parent for p in walk_files(ROOT, names=("kustomization.yaml", "kustomization.yml", "Kustomization")))


def is_component(kdir: Path) -> bool:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        f = kdir / name
        if f.exists():
            return (load_docs(f) or [{}])[0].get("kind") == "Component"
    return False


@functools.lru_cache(maxsize=None)
def render(kdir: str) -> tuple[list[dict] | None, str]:
    """`kubectl kustomize <dir>` -> (documents, error text)."""
    proc = subprocess.run(["kubectl", "kustomize", kdir], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None, proc.stderr.strip() or proc.stdout.strip()
    return parse_docs(proc.stdout), ""


def plain_manifests() -> list[tuple[Path, dict]]:
    """Kubernetes objects written as plain files in the manifest folders (not values files,
    not Kustomization files, not promtool tests): documents with apiVersion and kind."""
    out = []
    for d in MANIFEST_DIRS:
        for f in walk_files(ROOT / d, suffixes=(".yaml", ".yml")):
            try:
                docs = load_docs(f)
            except yaml.YAMLError as exc:
                out.append((f, {"__error__": str(exc)}))
                continue
            for doc in docs:
                if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc \
                        and not doc["apiVersion"].startswith("kustomize.config.k8s.io/"):
                    out.append((f, doc))
    return out


def obj_id(doc: dict) -> str:
    md = doc.get("metadata") or {}
    ns = f"{md['namespace']}/" if md.get("namespace") else ""
    return f"{doc.get('kind')}/{ns}{md.get('name', md.get('generateName', '?'))}"


def group_version(api_version: str) -> tuple[str, str]:
    return tuple(api_version.split("/", 1)) if "/" in api_version else ("", api_version)  # type: ignore[return-value]


def labels_match(selector: dict | None, labels: dict) -> bool:
    """Kubernetes label selector (matchLabels + matchExpressions) against a label set."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
