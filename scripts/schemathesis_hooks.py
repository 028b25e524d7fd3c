"""schemathesis hooks for scripts/schemathesis: keep the run's own API key alive.

The run authenticates with the bootstrap key. schemathesis learns key ids from
`GET /v1/api-keys` and feeds them to `DELETE /v1/api-keys/{id}`; once it revoked its own
key, every later request was a 401 and proved nothing. A revocation of the protected key
is sent as the revocation of a key created for it just before (so it still answers 204, as
schemathesis expects of an id it saw listed); keys the run created itself are revoked as
generated. Revoking the caller's own key is tested in crates/meetinghooks/tests/it/api_keys.rs.
"""

import json
import os
import urllib.request

import schemathesis

PROTECTED = os.environ["MEETINGHOOKS_PROTECTED_KEY_ID"]
BASE_URL = os.environ["MEETINGHOOKS_BASE_URL"]
KEY = os.environ["MEETINGHOOKS_KEY"]


def stand_in():
    """The id of a new key of the same project, to be revoked in the protected key's place."""
    request = urllib.request.Request(
        f"{BASE_URL}/v1/api-keys",
        method="POST",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)["id"]


@schemathesis.hook
def before_call(context, case, **kwargs):
    if case.operation.definition.raw.get("operationId") != "revokeApiKey":
        return
    if (case.path_parameters or {}).get("id") == PROTECTED:
        case.path_parameters = {**case.path_parameters, "id": stand_in()}
