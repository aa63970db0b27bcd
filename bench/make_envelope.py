#!/usr/bin/env python3
"""Write the benchmark's request body template from the recorded sentry-python fixture.

The fixture (fixtures/sentry-python/req_001.json: a KeyError event, 5.3 KB uncompressed) stores the
body brotli-compressed, as the SDK sent it. The benchmark sends it UNCOMPRESSED. In the template:

* the event id (it appears twice: in the envelope header and in the event payload) is replaced by
  the 32-character marker EVENTID_EVENTID_EVENTID_EVENTID_, which the load generators
  (bench/wrk_envelope.lua, bench/loadgen.rs) replace by a fresh 32-hex id per request;
* the DSN public key in the envelope header's trace context is replaced by the target's key
  (--key), so the body is consistent with the X-Sentry-Auth header.

Both replacements keep their length, so the item header's `length` stays right; this script
checks it.

Usage: make_envelope.py --key 32HEX --out FILE [--fixture PATH]
Needs the `brotli` module (bench/ingest.sh picks a Python that has it).
"""
import argparse
import base64
import json
import pathlib
import re
import sys

MARKER = "EVENTID_EVENTID_EVENTID_EVENTID_"
ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True, help="the target project's DSN public key (32 hex)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixture", default=str(ROOT / "fixtures/sentry-python/req_001.json"))
    a = ap.parse_args()
    if not re.fullmatch(r"[0-9a-f]{32}", a.key):
        sys.exit(f"--key must be 32 lowercase hex characters, got {a.key!r}")

    import brotli  # noqa: PLC0415 (only needed here)

    rec = json.loads(pathlib.Path(a.fixture).read_text())
    body = brotli.decompress(base64.b64decode(rec["body_b64"])).decode("utf-8")
    lines = body.split("\n")
    header = json.loads(lines[0])
    event_id = header["event_id"]
    old_key = header.get("trace", {}).get("public_key")
    assert len(event_id) == 32 and len(MARKER) == 32
    n_ids = body.count(event_id)
    if n_ids < 2:
        sys.exit(f"expected the event id in the header and the payload, found it {n_ids} time(s)")
    out = body.replace(event_id, MARKER)
    if old_key:
        out = out.replace(old_key, a.key)

    # Check the framing: every item header with a length must match its payload's byte length.
    ls = out.split("\n")
    i = 1
    while i + 1 < len(ls) and ls[i]:
        item = json.loads(ls[i])
        if "length" in item and item["length"] != len(ls[i + 1].encode()):
            sys.exit(f"item length mismatch: header says {item['length']}, payload is {len(ls[i + 1].encode())}")
        i += 2
    payload = json.loads(ls[2].replace(MARKER, "0" * 32))
    assert payload["event_id"] == "0" * 32, "the payload's event_id must be the substituted one"

    pathlib.Path(a.out).write_text(out)
    print(f"{a.out}: {len(out.encode())} bytes, event id at {out.count(MARKER)} places, "
          f"item type {json.loads(ls[1])['type']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
