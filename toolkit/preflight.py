"""Operators a route cannot take, known before any conversion (and shown by --dry-run).

A route's first converter reads the source itself (Converter.lacks: e.g. onnx2tf's table
of op modules), and a source delivered as it is is checked against the runtime that will
run it (FormatModule.runtime_lacks: onnxruntime's kernel registry). A candidate whose route
would fail is skipped with those operators and their nodes named, instead of after minutes
of conversion; a format no route can make stops the run at plan time with the same words.
What only shows after conversion (TFLite Micro's kernels, the Edge TPU's operator table) is
checked on the converted model: edgekit.workshop's device proof.
"""
from __future__ import annotations

SHOWN_NODES = 3  # nodes named per operator; a count says how many more


def route_blocker(route, source) -> str:
    """Why `route` cannot convert `source` (the operators its first step lacks), or ""."""
    first = route[0]
    if first.lacks is None or first.source != source.format:
        return ""
    who, lacking = _lacking(first, source, route[-1].dest)
    if not lacking:
        return ""
    return f"{who} cannot handle " + "; ".join(
        f"{op} ({_nodes(names)})" for op, names in sorted(lacking.items()))


_ANSWERS: dict[tuple, tuple] = {}  # a run asks once per candidate: trace or parse once
MAX_ANSWERS = 64  # a long-lived process (a notebook, a service) keeps only the recent ones


def _lacking(converter, source, destination: str) -> tuple[str, dict]:
    """converter.lacks(source, destination), kept per source file version and shapes (a
    Keras model is traced to answer, a large ONNX graph parsed). A source the check cannot
    read or trace gets no answer: the route is tried and fails in its own words. A failure
    of edgekit's own code stays a bug."""
    from pathlib import Path

    from .errors import EdgekitError, raised_in_edgekit
    path = Path(source.path)
    version = (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None
    key = (converter.source, converter.dest, converter.tool, str(path), version, source.inputs,
           destination)
    if key not in _ANSWERS:
        if len(_ANSWERS) >= MAX_ANSWERS:
            _ANSWERS.clear()
        try:
            _ANSWERS[key] = converter.lacks(source, destination)
        except Exception as error:
            if raised_in_edgekit(error) and not isinstance(error, EdgekitError):
                raise
            _ANSWERS[key] = ("", {})
    return _ANSWERS[key]


def _nodes(names: list[str]) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:SHOWN_NODES])
    more = f" and {len(names) - SHOWN_NODES} more" if len(names) > SHOWN_NODES else ""
    return f"node{'s' if len(names) > 1 else ''} {shown}{more}"


def blocked_routes(source, profile) -> dict[str, dict[str, str]]:
    """Per output format: each blocked route (its tools joined) -> why. Raises
    UnsupportedError when every route to a format is blocked."""
    from .candidates import ordered
    from .errors import UnsupportedError
    found: dict[str, dict[str, str]] = {}
    for fmt in profile.formats:
        routes = {candidate.tools: candidate.route
                  for candidate in ordered(source, fmt, profile.policy_for(fmt))}
        why = {" -> ".join(tools): route_blocker(route, source) for tools, route in routes.items()}
        blocked = {tools: reason for tools, reason in why.items() if reason}
        if routes and len(blocked) == len(routes):
            raise UnsupportedError(f"no route can make {fmt} from {source.path}: "
                                   + "; ".join(dict.fromkeys(blocked.values())))
        if blocked:
            found[fmt] = blocked
    return found
