"""Collect a live cluster's objects into one ``kind: List`` snapshot for offline analysis.

Uses the official ``kubernetes`` client for what kubectl would use: the kubeconfig
(``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``; in a pod, the service
account) and its context (``--context``). Objects are listed cluster-wide through the raw
REST paths (``GET /api/v1/pods?limit=500`` and ``continue`` tokens, like ``kubectl get -A``),
kept as the API server sent them (camelCase JSON), with ``kind``/``apiVersion`` set on every
item and ``managedFields`` dropped. Secrets are never collected.

Mirrors ``staging/src/k8s.io/client-go/tools/clientcmd`` loading rules through the client
library; the list paths are those of the Kubernetes API reference.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kapsec.errors import ServiceError, UsageError

# kind -> (apiVersion, plural resource)
KINDS: dict[str, tuple[str, str]] = {
    "Namespace": ("v1", "namespaces"),
    "Pod": ("v1", "pods"),
    "PodTemplate": ("v1", "podtemplates"),
    "ReplicationController": ("v1", "replicationcontrollers"),
    "ServiceAccount": ("v1", "serviceaccounts"),
    "Deployment": ("apps/v1", "deployments"),
    "ReplicaSet": ("apps/v1", "replicasets"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "DaemonSet": ("apps/v1", "daemonsets"),
    "Job": ("batch/v1", "jobs"),
    "CronJob": ("batch/v1", "cronjobs"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "Role": ("rbac.authorization.k8s.io/v1", "roles"),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles"),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings"),
}
DEFAULT_KINDS: tuple[str, ...] = tuple(KINDS)
PAGE_SIZE = 500


def list_path(kind: str) -> str:
    api_version, plural = KINDS[kind]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{prefix}/{plural}"


def _precheck_kubeconfig(real: str, shown: str) -> None:
    """Refuse, in one line, a kubeconfig the client library would fail on with a traceback:
    a directory, a file that is not UTF-8 text, or YAML that does not parse."""
    import yaml

    if os.path.isdir(real):
        raise ServiceError("cannot use the kubeconfig: is a directory", file=shown)
    try:
        with open(real, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ServiceError(f"cannot read the kubeconfig: {exc.strerror}", file=shown) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServiceError(
            f"cannot use the kubeconfig: not UTF-8 text (byte {exc.start})", file=shown
        ) from exc
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise ServiceError(
            f"cannot use the kubeconfig: invalid YAML: {problem}", file=shown, line=line
        ) from exc


def _api_client(kubeconfig: str | None, context: str | None) -> Any:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    cfg = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    try:
        if path is None and not os.path.exists(os.path.expanduser("~/.kube/config")):
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            else:
                raise ServiceError(
                    "no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config"
                )
        else:
            if path and os.pathsep in path:
                path = path.split(os.pathsep)[0]  # like kubectl, the first file names the context
            if path and not os.path.exists(os.path.expanduser(path)):
                raise ServiceError("kubeconfig not found", file=path)
            _precheck_kubeconfig(os.path.expanduser(path or "~/.kube/config"), path or "~/.kube/config")
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=cfg, persist_config=False
            )
    except ConfigException as exc:
        raise ServiceError(f"cannot use the kubeconfig: {exc}", file=path) from exc
    return client.ApiClient(cfg)


def _get(api: Any, path: str, query: list[tuple[str, Any]]) -> dict[str, Any]:
    import urllib3
    from kubernetes.client.exceptions import ApiException

    host = api.configuration.host
    try:
        method, url, headers, _, _ = api.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        resp = api.call_api(method, url, header_params=headers, _request_timeout=(10, 60))
        body = resp.read()
    except ApiException as exc:
        reason = " ".join(str(exc.reason).split())  # the client puts the SSL error on a second line
        raise ServiceError(f"cannot reach the API server at {host}: {reason}") from exc
    except urllib3.exceptions.HTTPError as exc:
        cause = getattr(exc, "reason", None) or exc
        raise ServiceError(f"cannot reach the API server at {host}: {' '.join(str(cause).split())}") from exc
    if resp.status != 200:
        message = ""
        try:
            status = json.loads(body)
            message = status.get("message", "") if isinstance(status, dict) else ""
        except ValueError:
            message = body[:200].decode("utf-8", "replace") if isinstance(body, bytes) else ""
        hint = ""
        if resp.status == 403:
            hint = " (the credentials need list permission on it, or leave that kind out)"
        elif resp.status == 401:
            hint = " (the kubeconfig's credentials were not accepted)"
        raise ServiceError(f"GET {path}: HTTP {resp.status}: {message}{hint}")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ServiceError(f"GET {path}: the answer is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("items", []), list):
        raise ServiceError(f"GET {path}: the answer is not a list")
    return data


def collect_snapshot(
    kubeconfig: str | None, context: str | None, kinds: Sequence[str] | None = None
) -> dict[str, Any]:
    """List every object of ``kinds`` (default :data:`DEFAULT_KINDS`) in all namespaces.

    Returns ``{"apiVersion": "v1", "kind": "List", "metadata": {...}, "items": [...]}``, loadable
    by :func:`kapsec.sources.objects.load_text`. Raises :class:`ServiceError` when the cluster
    cannot be reached or refuses a list (a partial snapshot would silently mislead).
    """
    wanted = list(kinds) if kinds else list(DEFAULT_KINDS)
    unknown = [k for k in wanted if k not in KINDS]
    if unknown:
        raise UsageError(f"cannot collect {', '.join(unknown)} (known kinds: {', '.join(KINDS)})")
    api = _api_client(kubeconfig, context)
    items: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    try:
        for kind in wanted:
            api_version, _ = KINDS[kind]
            path = list_path(kind)
            token: str | None = None
            counts[kind] = 0
            while True:
                query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
                if token:
                    query.append(("continue", token))
                page = _get(api, path, query)
                for item in page.get("items") or []:
                    if not isinstance(item, dict):
                        continue
                    item = {"apiVersion": api_version, "kind": kind, **item}
                    meta = item.get("metadata")
                    if isinstance(meta, dict) and "managedFields" in meta:
                        item["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
                    items.append(item)
                    counts[kind] += 1
                meta = page.get("metadata")
                token = meta.get("continue") if isinstance(meta, dict) else None
                if not token:
                    break
    finally:
        api.close()
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {
            "annotations": {
                "kapsec.io/collected-at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kapsec.io/server": str(api.configuration.host),
                "kapsec.io/counts": json.dumps(counts),
            }
        },
        "items": items,
    }
