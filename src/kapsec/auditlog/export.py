"""Export the rule pack to a SIEM's query language with pySigma's backends.

Field names in the pack are audit Event paths, which is how Elasticsearch (Filebeat's or any
JSON ingest of the audit log) indexes them, so the Lucene backend needs no renaming. For Loki
a processing pipeline selects the ``json`` parser and the audit stream (``{job="kubernetes-audit"}``
by default); Loki's json parser flattens ``objectRef.resource`` to ``objectRef_resource``, the
same sanitising the backend applies to field names. Rules a backend cannot express (booleans
and request-body arrays in LogQL, correlations in Lucene) are returned as skipped with the
backend's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kapsec.auditlog.pack import load_pack
from kapsec.errors import UsageError


def _loki_pipeline(stream: dict[str, str]) -> Any:
    from sigma.pipelines.loki.loki import (
        CustomLogSourceTransformation,
        LokiCustomAttributes,
        SetCustomAttributeTransformation,
    )
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline

    return ProcessingPipeline(
        name="kapsec Kubernetes audit log in Loki (json)",
        priority=20,
        allowed_backends=frozenset({"loki"}),
        items=[
            ProcessingItem(
                identifier="kapsec_loki_json",
                transformation=SetCustomAttributeTransformation(
                    attribute=LokiCustomAttributes.PARSER.value, value="json"
                ),
                rule_conditions=[LogsourceCondition(product="kubernetes", service="audit")],
            ),
            ProcessingItem(
                identifier="kapsec_loki_stream",
                transformation=CustomLogSourceTransformation(selection=dict(stream)),
                rule_conditions=[LogsourceCondition(product="kubernetes", service="audit")],
            ),
        ],
    )


def _es_pipeline(prefix: str) -> Any:
    """Field names as an ingest pipeline stores them: Elastic's Kubernetes integration nests the
    audit event under ``kubernetes.audit.`` (``--field-prefix kubernetes.audit.``)."""
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import AddFieldnamePrefixTransformation

    return ProcessingPipeline(
        name="kapsec Kubernetes audit field prefix",
        priority=20,
        items=[
            ProcessingItem(
                identifier="kapsec_es_prefix",
                transformation=AddFieldnamePrefixTransformation(prefix),
                rule_conditions=[LogsourceCondition(product="kubernetes", service="audit")],
            )
        ],
    )


def _rule_id(rule: Any) -> str:
    return str(getattr(rule, "name", None) or getattr(rule, "id", None) or getattr(rule, "title", "?"))


def _convert(
    backend: str,
    fmt: str = "default",
    *,
    rule_dirs: Sequence[str] = (),
    only: Sequence[str] = (),
    index: str = "kubernetes-audit-*",
    loki_stream: dict[str, str] | None = None,
    field_prefix: str = "",
) -> tuple[Any, list[Any], list[tuple[str, str]]]:
    """(the backend's finalized output, the rule of each query, [(rule id, why it was skipped)])."""
    pack = load_pack(rule_dirs, only=only)
    collection = pack.sigma_collection()
    if backend == "elasticsearch":
        from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend

        pipeline = _es_pipeline(field_prefix) if field_prefix else None
        b: Any = LuceneBackend(processing_pipeline=pipeline, collect_errors=True, index_names=[index])
    elif backend == "loki":
        if field_prefix:
            raise UsageError("--field-prefix applies to the elasticsearch backend")
        from sigma.backends.loki import LogQLBackend

        b = LogQLBackend(
            processing_pipeline=_loki_pipeline(loki_stream or {"job": "kubernetes-audit"}),
            collect_errors=True,
        )
    else:
        raise UsageError(f"unknown backend {backend!r} (elasticsearch or loki)")
    if fmt not in b.formats:
        raise UsageError(f"the {backend} backend has no format {fmt!r} (one of: {', '.join(b.formats)})")
    queries: list[Any] = []
    skipped: list[tuple[str, str]] = []
    converted: list[Any] = []
    for rule in collection.rules:
        try:
            q = b.convert_rule(rule, fmt)
        except Exception as exc:  # backends raise NotImplementedError as well as SigmaError
            why = str(exc).split(" (while", 1)[0]
            if type(rule).__name__ == "SigmaCorrelationRule":
                why = f"correlation rules are not supported by this backend ({why})"
            skipped.append((_rule_id(rule), why))
            continue
        if b.errors:
            skipped.extend((_rule_id(r), str(e).split(" (while", 1)[0]) for r, e in b.errors)
            b.errors.clear()
            continue
        queries.extend(q)
        converted.extend([rule] * len(q))
    return b.finalize(queries, fmt), converted, skipped


def export(
    backend: str,
    fmt: str = "default",
    *,
    rule_dirs: Sequence[str] = (),
    only: Sequence[str] = (),
    index: str = "kubernetes-audit-*",
    loki_stream: dict[str, str] | None = None,
    field_prefix: str = "",
) -> tuple[str, list[tuple[str, str]]]:
    """(converted text, [(rule id, why it was skipped)])."""
    out, converted, skipped = _convert(
        backend,
        fmt,
        rule_dirs=rule_dirs,
        only=only,
        index=index,
        loki_stream=loki_stream,
        field_prefix=field_prefix,
    )
    if isinstance(out, str):
        text = out
    elif isinstance(out, list):
        # One query per rule, in collection order; name each one.
        import json

        lines = []
        if fmt == "default" and len(converted) == len(out):
            for r, q in zip(converted, out, strict=True):
                lines.append(f"# {_rule_id(r)}: {r.title}")
                lines.append(q if isinstance(q, str) else json.dumps(q))
        else:
            lines = [q if isinstance(q, str) else json.dumps(q) for q in out]
        text = "\n".join(lines) + "\n"
    else:
        import json

        text = json.dumps(out, indent=2) + "\n"
    return text, skipped


def export_document(
    backend: str,
    fmt: str = "default",
    *,
    rule_dirs: Sequence[str] = (),
    only: Sequence[str] = (),
    index: str = "kubernetes-audit-*",
    loki_stream: dict[str, str] | None = None,
    field_prefix: str = "",
) -> dict[str, Any]:
    """The export as one JSON-able document: each rule's query (``rules``) when the format gives
    one query per rule, else the backend's whole ``output``; and the rules ``skipped``, with why."""
    out, converted, skipped = _convert(
        backend,
        fmt,
        rule_dirs=rule_dirs,
        only=only,
        index=index,
        loki_stream=loki_stream,
        field_prefix=field_prefix,
    )
    doc: dict[str, Any] = {"backend": backend, "format": fmt}
    if isinstance(out, list) and len(converted) == len(out):
        doc["rules"] = [
            {"id": _rule_id(r), "title": r.title, "query": q} for r, q in zip(converted, out, strict=True)
        ]
    else:
        doc["output"] = out
    doc["skipped"] = [{"id": rule_id, "reason": why} for rule_id, why in skipped]
    return doc
