"""What Argo CD does with this repository's Argo CD objects, as far as the checks need it:
- an ApplicationSet's generators (list, git directories, pull request) produce parameters, and its
  Go template filled with them is the Application (unknown keys fail, as goTemplateOptions
  missingkey=error makes them fail in Argo CD);
- an AppProject admits an Application's destination, and each kind it renders, or not."""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from .common import REPO_URL, ROOT, obj_id, rel
from .schemas import is_cluster_scoped

# One sample pull request, in the pull-request generator's parameter names: the platform checks fill
# the preview template with it (check_preview fills it with its own).
SAMPLE_PULL_REQUEST = {"number": "1", "branch": "feature", "branch_slug": "feature", "head_sha": "0" * 40,
                       "head_short_sha": "0000000", "head_short_sha_7": "0000000", "target_branch": "main"}


class UnknownKey(KeyError):
    """A template names a parameter its generator does not provide."""

    def __init__(self, expression: str):
        super().__init__(f"template {expression} not supported by this check")
        self.expression = expression


def fill(node, params: dict[str, str]):
    """The template with every {{ .key }} replaced by params[".key"]; UnknownKey for any other."""
    if isinstance(node, dict):
        return {fill(k, params): fill(v, params) for k, v in node.items()}
    if isinstance(node, list):
        return [fill(v, params) for v in node]
    if isinstance(node, str):
        def sub(m):
            key = m.group(1).strip()
            if key not in params:
                raise UnknownKey(m.group(0))
            return params[key]
        return re.sub(r"\{\{\s*([^}]+?)\s*\}\}", sub, node)
    return node


def pull_request_params(pull_request: dict) -> dict[str, str]:
    """Template parameters of one pull request (keys as in the generator, values as strings)."""
    return {f".{k}": str(v) for k, v in pull_request.items()}


def glob_match(pattern: str, path: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern) and pattern.count("/") == path.count("/")


def generate(appset: dict) -> list[tuple[dict, dict]]:
    """(generator params, rendered Application spec+metadata) per generated app."""
    out = []
    template = appset["spec"]["template"]
    for gen in appset["spec"].get("generators") or []:
        if "list" in gen:  # environments: elements {env: <folder under environments/>}
            for element in gen["list"].get("elements") or []:
                params = {f".{k}": str(v) for k, v in element.items()}
                env = element.get("env", "")
                out.append(({".path.path": f"environments/{env}", **params}, fill(template, params)))
            continue
        if "pullRequest" in gen:  # one sample pull request: checks the template, project and paths
            params = pull_request_params(SAMPLE_PULL_REQUEST)
            out.append(({".path.path": "", **params}, fill(template, params)))
            continue
        git = gen.get("git")
        if not git or git.get("repoURL") != REPO_URL or "directories" not in git:
            continue
        dirs = sorted(rel(p) for p in ROOT.glob("*/**") if p.is_dir() and not any(s in p.parts for s in (".git", "target")))
        includes = [d["path"] for d in git["directories"] if not d.get("exclude")]
        excludes = [d["path"] for d in git["directories"] if d.get("exclude")]
        for d in dirs:
            if any(glob_match(p, d) for p in includes) and not any(glob_match(p, d) for p in excludes):
                params = {".path.path": d, ".path.basename": Path(d).name,
                          ".path.basenameNormalized": re.sub(r"[^a-z0-9-]", "-", Path(d).name.lower())}
                out.append((params, fill(template, params)))
    return out


def admits_destination(project: dict, destination: dict) -> bool:
    """The AppProject lists the Application's destination (namespace glob, server or `*`)."""
    return any(fnmatch.fnmatchcase(destination.get("namespace", ""), d.get("namespace", "")) and
               d.get("server", "") in (destination.get("server"), "*")
               for d in project["spec"].get("destinations") or [])


def refused_objects(project: dict, docs: list[dict], default_ns: str) -> list[str]:
    """Why the AppProject refuses each rendered object it refuses: a kind outside the whitelist of its
    scope (group and kind matched as globs), or a namespace outside its destinations. As in Argo CD's
    AppProject.IsGroupKindPermitted (pkg/apis/application/v1alpha1/app_project_types.go), a project
    without a namespaced whitelist admits every namespaced kind (`namespaceWhitelist == nil ||
    ...`), and one without a cluster whitelist admits no cluster-scoped kind (`len(clusterWhitelist)
    != 0 && ...`)."""
    pspec, name, out = project["spec"], project["metadata"]["name"], []
    for d in docs:
        group = d["apiVersion"].split("/")[0] if "/" in d["apiVersion"] else ""
        cluster = is_cluster_scoped(d)
        allowed = pspec.get("clusterResourceWhitelist", []) if cluster else pspec.get("namespaceResourceWhitelist")
        if allowed is not None and not any(fnmatch.fnmatchcase(group, a["group"] or "") and
                                           fnmatch.fnmatchcase(d["kind"], a["kind"]) for a in allowed):
            scope = "cluster" if cluster else "namespaced"
            out.append(f"renders {scope} {group or 'core'}/{d['kind']} ({obj_id(d)}), not allowed by project {name}")
        ns = (d.get("metadata") or {}).get("namespace") or default_ns
        if not cluster and not any(fnmatch.fnmatchcase(ns, x.get("namespace", "")) for x in pspec.get("destinations") or []):
            out.append(f"{obj_id(d)} lands in namespace {ns}, not a destination of project {name}")
    return out
