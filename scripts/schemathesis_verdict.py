"""Fails a schemathesis run that passed without testing: for scripts/schemathesis.

Every check passes on a run that lost its key (each answer a 401, which no check flags) or
never followed a link between operations. This reads the run's NDJSON events (written
unsanitized, so the key can be told from the wrong ones `ignored_auth` sends) and console
output and fails when a request with the run's key was answered 401, when an operation only
ever answered 401, or when the stateful phase covered no link.

Usage: schemathesis_verdict.py EVENTS.ndjson OUTPUT.txt OPENAPI_URL KEY
"""

import collections
import json
import re
import sys
import urllib.request

# These take no key of ours: their credential is a LiveKit JWT over the exact body, which no
# generator forges, so 401 is their right answer here. tests/it/livekit covers them signed.
JWT_ONLY = {"POST /v1/sources/livekit", "POST /v1/sources/{id}/livekit"}

# schemathesis does not call the document it was given.
NOT_CALLED = {"GET /openapi.json"}


def operations(openapi_url):
    doc = json.load(urllib.request.urlopen(openapi_url, timeout=5))
    methods = {"get", "put", "post", "delete", "patch"}
    return {
        f"{method.upper()} {path}"
        for path, item in doc["paths"].items()
        for method in item
        if method in methods
    }


def statuses_with_key(events_path, key):
    """Per operation, the statuses answered to requests that carried an Authorization header,
    and the operations that answered 401 to the run's own key."""
    seen = collections.defaultdict(collections.Counter)
    refused = collections.Counter()
    with open(events_path) as events:
        for line in events:
            event = json.loads(line)
            scenario = event.get("ScenarioFinished")
            if not scenario:
                continue
            recorder = scenario["recorder"]
            cases = recorder.get("cases", {})
            for case_id, interaction in (recorder.get("interactions") or {}).items():
                headers = {
                    k.lower(): v for k, v in (interaction["request"].get("headers") or {}).items()
                }
                response = interaction.get("response")
                case = cases.get(case_id, {}).get("value", {})
                if "authorization" in headers and response:
                    label = f"{case.get('method')} {case.get('path')}"
                    status = response["status_code"]
                    seen[label][status] += 1
                    if status == 401 and f"Bearer {key}" in headers["authorization"]:
                        refused[label] += 1
    return seen, refused


def main():
    events_path, output_path, openapi_url, key = sys.argv[1:5]
    failures = []
    seen, refused = statuses_with_key(events_path, key)
    for operation, count in sorted(refused.items()):
        if operation not in JWT_ONLY:
            failures.append(f"{operation}: {count} requests with the run's key answered 401")
    for operation in sorted(operations(openapi_url) - JWT_ONLY):
        answered = seen.get(operation)
        if not answered and operation in NOT_CALLED:
            print(f"schemathesis verdict: {operation}: not called with the key")
        elif not answered:
            failures.append(f"{operation}: never called with the key (did the case format change?)")
        elif set(answered) == {401}:
            failures.append(f"{operation}: only ever answered 401 ({answered[401]} requests)")
    output = open(output_path, encoding="utf-8", errors="replace").read()
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", output)
    if not links:
        failures.append("no 'API Links' line in the output: did the stateful phase run?")
    elif int(links.group(1)) == 0:
        failures.append(f"stateful links covered: 0 of {links.group(2)}")
    else:
        print(f"schemathesis verdict: stateful links covered {links.group(1)}/{links.group(2)}")
    unauthorized = sum(c[401] for c in seen.values())
    total = sum(sum(c.values()) for c in seen.values())
    print(f"schemathesis verdict: {total} requests with the key, {unauthorized} answered 401")
    for failure in failures:
        print(f"schemathesis verdict: {failure}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
