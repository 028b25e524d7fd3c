"""The dashboard in a real browser, against the real binary: each test checks one promise of
the dashboard and takes screenshots of the pages it visits (ui-tests/screenshots/)."""

import json
import re

from playwright.sync_api import expect

from conftest import KEY, MEETING, XSS_NAME, Api, Session, eventually


def test_sign_in_sets_a_strict_session_cookie_and_never_shows_the_key(browser, world):
    session = Session(browser, world["base"], None)
    page = session.page
    session.goto("/ui/endpoints")
    assert page.url.endswith("/ui/sign-in")
    session.shot("sign-in")
    page.fill("#api_key", "not-a-key-of-anyone-0000")
    page.click("button[type=submit]")
    assert "Unknown API key" in page.content()
    session.sign_in(KEY)
    assert page.locator("h1").inner_text() == "Overview"
    cookie = next(c for c in session.context.cookies() if c["name"] == "mh_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["expires"] > 0, "the session cookie expires"
    assert KEY not in page.url and KEY not in page.content()
    page.click(".sign-out button")
    assert page.url.endswith("/ui/sign-in")
    session.goto("/ui")
    assert page.url.endswith("/ui/sign-in"), "signed out means signed out"
    session.close()


def test_overview_numbers_match_the_api(signed, world):
    api = world["api"]
    signed.goto("/ui")
    page = signed.page
    exhausted = len(api.all("/v1/messages?status=exhausted"))
    queued = sum(len(api.all(f"/v1/messages?status={s}")) for s in ("waiting", "pending", "delivering"))
    disabled = len([e for e in api.ok("GET", "/v1/endpoints")["data"] if e["disabled"]])
    assert exhausted == len(world["events"])
    assert page.locator("#exhausted").inner_text() == str(exhausted)
    assert page.locator("#queue-depth").inner_text() == str(queued)
    assert page.locator("#disabled").inner_text() == str(disabled) == "1"
    assert page.locator("#failing").inner_text() == "1"
    attempts = sum(m["attempts"] for m in world["messages"])
    hour = int(page.locator("#chart-hour").get_attribute("data-total"))
    assert hour == attempts, "every attempt of the last hour is in the chart"
    ok = sum(1 for m in world["messages"] if m["status"] == "succeeded")
    assert page.locator("#rate-hour").inner_text() == f"{ok * 100 / attempts:.1f}%"
    signed.shot("overview")


def test_the_failing_endpoint_shows_its_attempts(signed, world):
    failing = world["failing"]
    signed.goto("/ui/endpoints")
    page = signed.page
    row = page.locator(f"tr[data-endpoint='{failing['id']}']")
    assert row.locator("[data-state]").get_attribute("data-state") == "failing"
    assert row.locator("td").nth(4).inner_text() == "0.0%"
    signed.shot("endpoints")
    row.locator("a").first.click()
    page.wait_for_url(f"**/ui/endpoints/{failing['id']}")
    attempts = page.locator("#attempts tbody tr")
    made = sum(m["attempts"] for m in world["messages"] if m["endpointId"] == failing["id"])
    assert made >= len(world["events"])
    assert attempts.count() == made, "every attempt of the last day, newest first"
    assert page.locator("#attempts tbody tr[data-ok=true]").count() == 0
    assert "http 500" in attempts.first.inner_text()
    signed.shot("endpoint-failing")


def test_resend_turns_an_exhausted_message_into_a_delivered_one(signed, world):
    api = world["api"]
    message = next(m for m in world["messages"]
                   if m["endpointId"] == world["failing"]["id"] and m["status"] == "exhausted")
    signed.goto(f"/ui/messages/{message['id']}")
    page = signed.page
    assert page.locator("#message-status [data-status]").get_attribute("data-status") == "exhausted"
    # The receiver's answer is shown as text: its markup is not part of the page.
    answer = page.locator("pre.answer").first.inner_text()
    assert "<script>window.__receiver = 1</script> boom" in answer
    assert page.evaluate("window.__receiver") is None
    payload = json.loads(page.locator("#payload").inner_text())
    assert payload["webhookType"] == message["webhookType"]
    headers = page.locator("#request-headers").inner_text()
    assert f"webhook-id: {message['id']}" in headers
    assert re.search(r"webhook-signature: v1,… \(hidden\)", headers)
    assert "whsec_" not in page.content()
    signed.shot("message-exhausted")
    world["receiver"].healed = True
    page.click("#resend")
    page.wait_for_url(f"**/ui/messages/{message['id']}")
    assert page.locator("#message-status [data-status]").get_attribute("data-status") == "succeeded"
    assert "Resent: the endpoint answered 200." in page.locator(".flash").inner_text()
    assert page.locator("#attempt-timeline li").count() == message["attempts"] + 1
    assert api.ok("GET", f"/v1/messages/{message['id']}")["status"] == "succeeded"
    signed.shot("message-resent")


def test_rotating_a_secret_asks_first_and_shows_the_new_one(signed, world):
    api = world["api"]
    healthy = world["healthy"]
    signed.goto(f"/ui/endpoints/{healthy['id']}")
    page = signed.page
    signed.shot("endpoint-healthy")
    page.click("#reveal-secret")
    assert page.locator("#secret").inner_text() == healthy["secret"]
    signed.goto(f"/ui/endpoints/{healthy['id']}")
    asked = len(signed.dialogs)
    page.click("#rotate-secret")
    assert signed.dialogs[asked][0] == "confirm", "rotation asks for a confirmation"
    new = page.locator("#secret").inner_text()
    assert new.startswith("whsec_") and new != healthy["secret"]
    assert api.ok("GET", f"/v1/endpoints/{healthy['id']}/secret")["secret"] == new
    signed.shot("secret-rotated")


def test_the_session_timeline_has_every_lane_and_event(signed, world):
    page = signed.page
    signed.goto("/ui/meetings")
    signed.shot("meetings")
    page.click(f"a[href='/ui/meetings/{MEETING}']")
    signed.shot("meeting")
    page.locator("#sessions tbody a").first.click()
    page.wait_for_url("**/ui/sessions/**")
    lanes = page.locator("g.participant")
    assert sorted(lanes.evaluate_all("gs => gs.map(g => g.dataset.participant)")) == ["alice", "mallory"]
    alice = page.locator("g.participant[data-participant=alice] rect.stay")
    assert alice.count() == 2, "a rejoin is a second stay"
    assert page.locator("g.participant[data-participant=alice] rect.rejoin").count() == 1
    media = page.locator("g.media").evaluate_all("gs => gs.map(g => g.dataset.media)")
    assert media == ["recording", "hls"]
    events = [e for e in world["events"]]
    markers = page.locator("g.events a[data-event]")
    assert markers.evaluate_all("as => as.map(a => a.dataset.event)") == [e["webhookType"] for e in events]
    # A delivery lane per endpoint, a marker per message, linking to it.
    lanes = page.locator("g.delivery")
    assert lanes.count() == 3
    for endpoint in (world["healthy"], world["failing"], world["disabled"]):
        marks = page.locator(f"g.delivery[data-endpoint='{endpoint['id']}'] a[data-delivery]")
        assert marks.count() == len(events)
        assert marks.first.get_attribute("href").startswith("/ui/messages/msg_")
    rows = page.locator("#session-events tbody tr")
    assert rows.count() == len(events)
    # Each event's delivery state per endpoint, as the API tells it now.
    shown = {"succeeded": "delivered", "exhausted": "failed", "failed": "failed", "skipped": "skipped"}
    messages = world["api"].all(f"/v1/messages?meetingId={MEETING}")
    for i, event in enumerate(events):
        states = rows.nth(i).locator("[data-delivery]").evaluate_all("as => as.map(a => a.dataset.delivery)")
        expected = [shown[m["status"]] for m in messages if m["eventId"] == event["id"]]
        assert sorted(states) == sorted(expected) and len(states) == 3, (event["webhookType"], states)
    # The name made of markup is a lane label, as text; no image element was made of it.
    label = page.locator("g.participant[data-participant=mallory] text.label")
    assert label.text_content() == XSS_NAME
    assert page.locator("img").count() == 0
    signed.shot("session-timeline")


def test_the_live_tail_shows_a_new_event_without_reloading(signed, world):
    api = world["api"]
    page = signed.page
    signed.goto("/ui/live")
    expect(page.locator("#live-status")).to_have_text("live", timeout=15_000)
    page.evaluate("window.__sameDocument = true")
    api.ok("POST", "/v1/signals", {"signals": [{
        "id": "ui-live-1", "type": "participant.joined", "meetingId": "ui-room-live",
        "participantId": "zoe", "participantName": "Zoe"}]})
    page.locator("#live-events tbody tr[data-event=participant-joined]").wait_for(timeout=15_000)
    page.locator("#live-deliveries tbody tr[data-ok=true]").first.wait_for(timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True, "the page was not reloaded"
    assert "ui-room-live" in page.locator("#live-events").inner_text()
    signed.shot("live")


def test_a_second_projects_key_sees_none_of_it(browser, world):
    other = Session(browser, world["base"], world["other_key"])
    message = world["messages"][0]
    for path in ("/ui/endpoints", "/ui/messages", "/ui/meetings"):
        other.goto(path)
        assert other.page.locator("tbody tr").count() == 0, path
    other.goto("/ui")
    assert other.page.locator("#exhausted").inner_text() == "0"
    for path in (f"/ui/endpoints/{world['failing']['id']}", f"/ui/messages/{message['id']}",
                 f"/ui/meetings/{MEETING}"):
        assert other.goto(path).status == 404, path
    other.goto("/ui/live")
    expect(other.page.locator("#live-status")).to_have_text("live", timeout=15_000)
    Api(world["base"], KEY).ok("POST", "/v1/signals", {"signals": [{
        "id": "ui-live-2", "type": "participant.joined", "meetingId": "ui-room-live",
        "participantId": "yan", "participantName": "Yan"}]})
    # The other project's own event, committed after the first project's, shows up in its
    # tail; the first project's, before it in the log, never does.
    Api(world["base"], world["other_key"]).ok("POST", "/v1/signals", {"signals": [{
        "id": "ui-live-3", "type": "participant.joined", "meetingId": "other-room",
        "participantId": "olga", "participantName": "Olga"}]})
    other.page.locator("#live-events tbody tr[data-event=participant-joined]").wait_for(timeout=15_000)
    rows = other.page.locator("#live-events tbody tr").all_inner_texts()
    assert len(rows) == 2 and all("other-room" in r for r in rows), rows
    other.close()


def test_a_post_without_the_csrf_token_is_refused(signed, world):
    api = world["api"]
    healthy = world["healthy"]
    before = api.ok("GET", f"/v1/endpoints/{healthy['id']}/secret")["secret"]
    request = signed.context.request  # carries the session cookie
    for form in ({}, {"csrf": "0" * 64}):
        answer = request.post(f"{world['base']}/ui/endpoints/{healthy['id']}/rotate", form=form)
        assert answer.status == 403
        assert answer.json()["error"]["code"] == "csrf_refused"
    assert api.ok("GET", f"/v1/endpoints/{healthy['id']}/secret")["secret"] == before


def test_pages_in_dark_mode(browser, world):
    dark = Session(browser, world["base"], KEY, color_scheme="dark")
    dark.goto("/ui")
    dark.shot("overview-dark")
    dark.goto("/ui/messages")
    dark.shot("messages-dark")
    dark.close()


def test_message_log_filters_and_pages_without_gaps(signed, world):
    api = world["api"]
    page = signed.page
    failing = world["failing"]["id"]
    signed.goto(f"/ui/messages?endpoint={failing}&type=participant-joined&meeting={MEETING}")
    shown = page.locator("#messages tbody tr").evaluate_all("rs => rs.map(r => r.dataset.message)")
    expected = [m["id"] for m in api.all(f"/v1/messages?endpointId={failing}&meetingId={MEETING}")
                if m["webhookType"] == "participant-joined"]
    assert shown == expected and len(expected) == 3
    # Five at a time through the whole log: every message once, in order.
    seen = []
    signed.goto("/ui/messages?limit=5")
    every = [m["id"] for m in api.all("/v1/messages")]
    while True:
        seen += page.locator("#messages tbody tr").evaluate_all("rs => rs.map(r => r.dataset.message)")
        nxt = page.locator("#next-page")
        if nxt.count() == 0:
            break
        nxt.click()
    assert seen == every
    signed.goto("/ui/messages?status=exhausted")
    signed.shot("messages")
