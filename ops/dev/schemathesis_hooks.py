"""Schemathesis hooks for invigil's API (ops/dev/schemathesis.sh loads them).

The live video routes take SDP offers as `application/sdp`, which
schemathesis has no serializer for: generated bodies go on the wire as the
UTF-8 text they are, so the routes meet arbitrary text in place of an
offer (and must answer 400, never 5xx).
"""

import schemathesis


@schemathesis.serializer("application/sdp")
def sdp_offer(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
