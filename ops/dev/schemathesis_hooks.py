"""Schemathesis hooks for invigil's API (ops/dev/schemathesis.sh loads them).

The live video routes take SDP offers as `application/sdp`, which
schemathesis has no serializer for: generated bodies go on the wire as the
UTF-8 text they are, so the routes meet arbitrary text in place of an
offer (and must answer 400, never 5xx).

`ast.parse` is serialised across schemathesis's worker threads. Hypothesis
parses a strategy's source file to name a `.filter(lambda …)` in its repr,
and CPython 3.11 keeps the AST builder's recursion counter in state shared
by every thread (cpython gh-106905): two workers parsing at once can fail
with "SystemError: AST constructor recursion depth mismatch", which
schemathesis reports as a runtime error of the run, not of our API. One CI
run failed that way with every generated case passing.
"""

import ast
import threading

import schemathesis

_parse = ast.parse
_parse_lock = threading.Lock()


def _parse_one_at_a_time(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time


@schemathesis.serializer("application/sdp")
def sdp_offer(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
