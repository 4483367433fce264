"""Schemathesis checks of Percept's own error contract (README, "HTTP API").

Loaded by tests/tests/suite/api_fuzz.rs (and so by `cargo xtask fuzz`) through the
`hooks` key of the schemathesis configuration it writes.
"""

import schemathesis


@schemathesis.check
def rejections_are_json_errors(ctx, response, case):
    """Every 4xx answers with a JSON object whose "error" string says what was wrong."""
    if not 400 <= response.status_code < 500:
        return None
    # HEAD answers carry the headers of a GET and no body to check.
    if case.method.upper() == "HEAD":
        return None
    # Schemathesis gives headers lowercase keys and lists of values.
    content_type = response.headers.get("content-type", [""])[0]
    if not content_type.startswith("application/json"):
        raise AssertionError(
            f"{response.status_code} answered with Content-Type {content_type!r}, "
            f"not a JSON error: {response.text[:200]!r}"
        )
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, str) or not error:
        raise AssertionError(
            f"{response.status_code} answered without an \"error\" string: {response.text[:200]!r}"
        )
    return None
