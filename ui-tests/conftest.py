"""Fixtures of the dashboard's browser tests: the real binary serving a fresh SQLite database,
a receiver on this machine with a failing path, a simulated meeting, and Debian's chromium
driven by Playwright.

    pytest ui-tests [--binary target/debug/meetinghooks] [--chromium /usr/bin/chromium]
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "ui-test-key-0123456789abcdef"
DEADLINE = 30.0
MEETING = "ui-room-1"
XSS_NAME = "<img src=x onerror=alert(1)>"
SCREENSHOTS = os.path.join(ROOT, "ui-tests", "screenshots")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def pytest_addoption(parser):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    parser.addoption("--binary", default=os.path.join(target, "debug", "meetinghooks"))
    parser.addoption("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.addoption(
        "--postgres", default=None,
        help="an admin URL of a PostgreSQL server: the server runs on a fresh database there "
        "instead of a SQLite file",
    )


def eventually(check, what, deadline=DEADLINE):
    """Polls `check` until it returns a truthy value, or fails after the deadline."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Api:
    def __init__(self, base, key):
        self.base, self.key = base, key

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"authorization": f"Bearer {self.key}"}
        if data is not None:
            headers["content-type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read().decode() or "null")

    def ok(self, method, path, body=None):
        status, answer = self.call(method, path, body)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    def all(self, path):
        """Every item of a paged listing."""
        items, cursor = [], None
        while True:
            sep = "&" if "?" in path else "?"
            page = self.ok("GET", path + (f"{sep}after={cursor}" if cursor else ""))
            items += page["data"]
            cursor = page.get("nextCursor")
            if not cursor:
                return items


class Receiver:
    """`/ok` answers 200; `/fail` answers 500 with markup in its body until `healed`."""

    def __init__(self):
        self.healed = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                failing = self.path == "/fail" and not receiver.healed
                body = b'<script>window.__receiver = 1</script> boom' if failing else b"ok"
                self.send_response(500 if failing else 200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


# Seals secrets at rest (PostgreSQL requires a key); a test key, never a real one.
SECRET_KEY = "ngVaFR6jSL63zXcAz7hb9PFlvjOKHkJc+g8sBWwIaAU="


def fresh_postgres_database(admin_url):
    """Creates an empty database next to the admin URL's and returns its URL."""
    name = f"ui_{os.getpid()}_{int(time.time() * 1000)}"
    psql = shutil.which("psql") or os.path.join(
        subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip(),
        "psql",
    )
    subprocess.run([psql, admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    base, rest = admin_url.rsplit("/", 1)
    options = rest[rest.index("?"):] if "?" in rest else ""
    return f"{base}/{name}{options}"


def start_server(binary, workdir, postgres):
    config = os.path.join(workdir, "meetinghooks.toml")
    database = fresh_postgres_database(postgres) if postgres else f"sqlite://{workdir}/mh.db"
    with open(config, "w") as f:
        f.write(
            'listen = "127.0.0.1:0"\n'
            'metrics_listen = ""\n'
            f'database_url = "{database}"\n'
            f'bootstrap_api_key = "{KEY}"\n'
            f'secret_key = "{SECRET_KEY}"\n'
            'allowed_private_targets = ["127.0.0.0/8"]\n'
        )
    # A second project, made before the server holds the database.
    created = subprocess.run(
        [binary, "project", "create", "other", "--config", config, "--create-database"],
        capture_output=True, text=True, check=True,
    )
    other_key = re.search(r"api key: (\S+)", created.stdout).group(1)
    log = open(os.path.join(workdir, "server.log"), "w+")
    process = subprocess.Popen(
        [binary, "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": "info", "NO_COLOR": "1"},
    )

    def address():
        log.seek(0)
        found = re.search(r"meetinghooks listening addr=(\S+)", log.read())
        return found and found.group(1)

    addr = eventually(address, "the server's address in its log")
    return process, f"http://{addr}", other_key, log


@pytest.fixture(scope="session")
def world(pytestconfig):
    """The server with a meeting behind it: three endpoints (one healthy, one failing whose
    messages run out of attempts, one disabled), two participants (one rejoins, one has a
    name made of markup), a recording and HLS."""
    binary = os.path.abspath(pytestconfig.getoption("--binary"))
    workdir = tempfile.mkdtemp(prefix="meetinghooks-ui-")
    process, base, other_key, log = start_server(binary, workdir, pytestconfig.getoption("--postgres"))
    receiver = Receiver()
    api = Api(base, KEY)
    try:
        healthy = api.ok("POST", "/v1/endpoints", {"url": receiver.url("/ok"), "description": "healthy"})
        failing = api.ok("POST", "/v1/endpoints", {
            "url": receiver.url("/fail"), "description": "failing",
            "ordering": "none", "retrySchedule": [1],
        })
        disabled = api.ok("POST", "/v1/endpoints", {"url": receiver.url("/ok"), "description": "off"})
        api.ok("PATCH", f"/v1/endpoints/{disabled['id']}", {"disabled": True})
        steps = [
            {"type": "participant.joined", "participantId": "alice", "participantName": "Alice"},
            {"type": "participant.joined", "participantId": "mallory", "participantName": XSS_NAME},
            {"type": "recording.started", "fileId": "rec-1"},
            {"type": "participant.left", "participantId": "alice", "reason": "left"},
            {"type": "participant.joined", "participantId": "alice", "participantName": "Alice"},
            {"type": "hls.started", "downstreamUrl": "https://cdn.example.com/ui/index.m3u8"},
            {"type": "hls.stopped"},
            {"type": "recording.stopped", "fileId": "rec-1"},
            {"type": "participant.left", "participantId": "mallory", "reason": "left"},
            {"type": "participant.left", "participantId": "alice", "reason": "left"},
        ]
        # One request per signal, as a media server sends them: the server's clock times them.
        for i, step in enumerate(steps):
            api.ok("POST", "/v1/signals", {"signals": [{"id": f"ui-sig-{i}", "meetingId": MEETING, **step}]})
        events = api.all(f"/v1/events?meetingId={MEETING}")

        def settled():
            msgs = api.all(f"/v1/messages?meetingId={MEETING}")
            by = lambda ep, st: [m for m in msgs if m["endpointId"] == ep and m["status"] == st]
            return (len(by(healthy["id"], "succeeded")) == len(events)
                    and len(by(failing["id"], "exhausted")) == len(events)) and msgs

        messages = eventually(settled, "the healthy endpoint's successes and the failing one's exhaustion")
        yield {
            "base": base, "api": api, "receiver": receiver, "other_key": other_key,
            "healthy": healthy, "failing": failing, "disabled": disabled,
            "events": events, "messages": messages, "workdir": workdir,
        }
    finally:
        process.terminate()
        process.wait(timeout=20)
        receiver.server.shutdown()
        log.seek(0)
        server_log = log.read()
        # The keys never reach the server's log.
        assert KEY not in server_log and other_key not in server_log


@pytest.fixture(scope="session")
def browser(pytestconfig):
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=pytestconfig.getoption("--chromium"),
            args=["--no-sandbox"],
        )
        yield browser
        browser.close()


class Session:
    """A signed-in browser page that records every dialog and takes screenshots."""

    def __init__(self, browser, base, key, color_scheme="light"):
        self.base = base
        self.context = browser.new_context(viewport=DESKTOP, color_scheme=color_scheme)
        self.page = self.context.new_page()
        self.dialogs = []

        def on_dialog(dialog):
            self.dialogs.append((dialog.type, dialog.message))
            dialog.accept()

        self.page.on("dialog", on_dialog)
        self.errors = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        if key:
            self.sign_in(key)

    def sign_in(self, key):
        self.page.goto(self.base + "/ui")
        self.page.fill("#api_key", key)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + "/ui")

    def goto(self, path):
        response = self.page.goto(self.base + path)
        return response

    def shot(self, name):
        os.makedirs(SCREENSHOTS, exist_ok=True)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(size)
            self.page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}-{label}.png"), full_page=True)
        self.page.set_viewport_size(DESKTOP)

    def close(self):
        self.context.close()


@pytest.fixture(scope="session")
def signed(browser, world):
    session = Session(browser, world["base"], KEY)
    yield session
    # No script of a signal or a receiver ever ran: no dialog opened, nothing was set.
    assert [d for d in session.dialogs if d[0] == "alert"] == []
    session.close()
