"""A learning platform built on lti1p3platform (PyPI, MIT), as a second
opinion on invigil's LTI tool: it launches invigil the way an independent
LTI 1.3 implementation does (OIDC third-party login, a signed id_token with
the LTI Proctoring Services claims) and checks the LtiStartAssessment the
tool sends back — its signature against the tool's published keys, and
every claim the proctoring spec asks of it.

  python3 lms.py --tool http://127.0.0.1:8080   # prints "listening <port>"

Routes (loopback only):
  GET  /jwks                 the platform's keys
  GET  /launch?message=start|end&user=U   starts a launch (LtiStartProctoring or
                             LtiEndAssessment): redirects to the tool's login
  GET  /auth                 the tool's authorisation request: answers the
                             auto-posting form with the id_token
  POST /start                the tool's LtiStartAssessment (form field JWT):
                             checked, recorded, answered with the "assessment"
  POST /token                OAuth 2 client credentials with the tool's JWT
                             assertion (lti1p3platform issues the token)
  POST /acs                  Assessment Control Service: a control from the
                             tool, with a token /token issued
  GET  /state                what happened, as JSON, for the test
  GET  /registration         how invigil registers this platform (JSON)

lti1p3platform checks a tool JWT's signature and times only; this script
checks the rest (audience, issuer, message type, version, deployment,
session_data, attempt number, resource link, a fresh nonce) itself.
"""

import argparse
import json
import sys
import threading
import time
import uuid
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
import jwt
import lti1p3platform.ltiplatform as ltiplatform
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import MessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
ACS_MEDIA_TYPE = "application/vnd.ims.lti-ap.v1.control+json"
# The package grants AGS and NRPS scopes only; proctoring's is added here.
if ACS_SCOPE not in ltiplatform.LTI_1P3_ACCESS_TOKEN_SCOPES:
    ltiplatform.LTI_1P3_ACCESS_TOKEN_SCOPES.append(ACS_SCOPE)
CLIENT_ID = "invigil-from-pypi"
DEPLOYMENT_ID = "deployment-py"
RESOURCE_LINK = "final-exam"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def new_keypair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


class World:
    """What the platform knows and what it saw."""

    def __init__(self, issuer, tool):
        self.issuer = issuer
        self.tool = tool.rstrip("/")
        self.private, self.public = new_keypair()
        self.lock = threading.Lock()
        # login_hint -> the launch it stands for
        self.pending = {}
        self.session_data = {}
        self.started = []
        self.controls = []
        self.problems = []
        self.nonces = set()
        self.attempt = 1


class Platform(LTI1P3PlatformConfAbstract):
    def __init__(self, world):
        self.world = world
        super().__init__()

    def init_platform_config(self, **kwargs):
        world = self.world
        self._registration = (
            Registration()
            .set_iss(world.issuer)
            .set_client_id(CLIENT_ID)
            .set_deployment_id(DEPLOYMENT_ID)
            .set_launch_url(world.tool + "/lti/launch")
            .set_oidc_login_url(world.tool + "/lti/login")
            .set_tool_key_set_url(world.tool + "/lti/jwks")
            .set_platform_public_key(world.public)
            .set_platform_private_key(world.private)
        )

    def get_registration_by_params(self, **kwargs):
        return self._registration


class Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs):
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url):
        return url


class Request:
    """What lti1p3platform reads of an HTTP request."""

    def __init__(self, query, form=None):
        self.get_data = query
        self.form_data = form or {}


class Launch(MessageLaunchAbstract):
    def __init__(self, request, platform, launch):
        self.launch = launch
        self.world = platform.world
        super().__init__(request, platform)

    def prepare_launch(self, preflight_response):
        launch = self.launch
        world = self.world
        self.set_user_data(launch["user"], [LEARNER], full_name="Ravi Menon")
        self.set_resource_link_claim(RESOURCE_LINK, title="Final exam (PyPI platform)")
        extra = {
            LTI + "message_type": launch["message"],
            AP + "attempt_number": launch["attempt"],
            AP + "session_data": launch["session_data"],
        }
        if launch["message"] == "LtiStartProctoring":
            extra[AP + "start_assessment_url"] = world.issuer + "/start"
            extra[AP + "acs"] = {
                "assessment_control_url": world.issuer + "/acs",
                "actions": ["pause", "resume", "terminate", "update", "flag"],
            }
        self.set_extra_claims(extra)

    def render_launch_form(self, launch_data, **kwargs):
        return launch_data


def check_start(world, token):
    """The LtiStartAssessment's problems (empty: it holds)."""
    platform = Platform(world)
    try:
        claims = platform.tool_validate_and_decode(token)
    except Exception as error:  # the library raises several kinds
        return ["signature or times: %s" % error], None
    problems = []

    def expect(name, got, want):
        if got != want:
            problems.append("%s is %r, expected %r" % (name, got, want))

    expect("iss", claims.get("iss"), CLIENT_ID)
    expect("aud", claims.get("aud"), world.issuer)
    expect("message_type", claims.get(LTI + "message_type"), "LtiStartAssessment")
    expect("version", claims.get(LTI + "version"), "1.3.0")
    expect("deployment_id", claims.get(LTI + "deployment_id"), DEPLOYMENT_ID)
    expect("resource_link.id", (claims.get(LTI + "resource_link") or {}).get("id"), RESOURCE_LINK)
    session_data = claims.get(AP + "session_data")
    if session_data not in world.session_data:
        problems.append("session_data %r was never issued" % session_data)
    else:
        expect("attempt_number", claims.get(AP + "attempt_number"), world.session_data[session_data])
    nonce = claims.get("nonce")
    if not nonce or nonce in world.nonces:
        problems.append("nonce missing or reused")
    world.nonces.add(nonce)
    if not isinstance(claims.get(AP + "end_assessment_return"), bool):
        problems.append("end_assessment_return is not a boolean")
    verified = claims.get(AP + "verified_user")
    if verified is not None:
        # LTI-AP 4.3.2.1: identity claims only; iss and sub are the
        # platform's, opaque to the tool, and must not be vouched for.
        if not isinstance(verified, dict) or not verified:
            problems.append("verified_user is not an object of identity claims")
        elif "iss" in verified or "sub" in verified:
            problems.append("verified_user names iss or sub")
    return problems, claims


def page(body, title="Platform"):
    return ("<!doctype html><html lang=en><meta charset=utf-8><title>%s</title><body>%s</body></html>" % (title, body)).encode()


class Handler(BaseHTTPRequestHandler):
    world = None

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="text/html; charset=utf-8", headers=None):
        self.send_response(status)
        self.send_header("content-type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        world = self.world
        if url.path == "/jwks":
            return self.reply(200, json.dumps(Platform(world).get_jwks()).encode(), "application/json")
        if url.path == "/registration":
            registration = {
                "name": "pypi",
                "issuer": world.issuer,
                "client_id": CLIENT_ID,
                "auth_url": world.issuer + "/auth",
                "token_url": world.issuer + "/token",
                "jwks_url": world.issuer + "/jwks",
                "deployment_ids": [DEPLOYMENT_ID],
            }
            return self.reply(200, json.dumps(registration).encode(), "application/json")
        if url.path == "/state":
            with world.lock:
                state = {"started": world.started, "controls": world.controls, "problems": world.problems}
            return self.reply(200, json.dumps(state).encode(), "application/json")
        if url.path == "/launch":
            message = {"start": "LtiStartProctoring", "end": "LtiEndAssessment"}[query.get("message", "start")]
            hint = "hint-" + uuid.uuid4().hex
            with world.lock:
                if message == "LtiStartProctoring":
                    session_data = "sd-" + uuid.uuid4().hex
                    world.session_data[session_data] = world.attempt
                else:
                    session_data = next(reversed(world.session_data), "none")
                world.pending[hint] = {
                    "message": message,
                    "user": query.get("user", "learner-1"),
                    "attempt": world.attempt,
                    "session_data": session_data,
                }
            login = Login(request=None, platform_config=Platform(world))
            login.set_lti_message_hint(hint=hint)
            return self.reply(302, b"", headers={"location": login.initiate_login(world.pending[hint]["user"])})
        if url.path == "/auth":
            with world.lock:
                launch = world.pending.pop(query.get("lti_message_hint", ""), None)
            if launch is None or query.get("login_hint") != launch["user"]:
                return self.reply(400, page("unknown login"))
            if query.get("redirect_uri") != world.tool + "/lti/launch":
                return self.reply(400, page("redirect_uri is not the registered launch URL"))
            data = Launch(Request(query), Platform(world), launch).lti_launch()
            form = (
                '<form id=launch method=post action="%s"><input type=hidden name=id_token value="%s">'
                '<input type=hidden name=state value="%s"></form><script>document.getElementById("launch").submit()</script>'
                % (escape(data["launch_url"]), escape(data["id_token"]), escape(data["state"]))
            )
            return self.reply(200, page(form, "Launching"))
        return self.reply(404, page("no such page"))

    def do_POST(self):
        url = urlparse(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        world = self.world
        if url.path == "/acs":
            return take_control(self, world, raw)
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if url.path == "/token":
            return issue_token(self, world, form)
        if url.path == "/start":
            problems, claims = check_start(world, form.get("JWT", ""))
            with world.lock:
                if problems:
                    world.problems.extend(problems)
                else:
                    world.started.append({
                        "session_data": claims[AP + "session_data"],
                        "verified_user": claims.get(AP + "verified_user"),
                        "end_assessment_return": claims.get(AP + "end_assessment_return"),
                        "at": time.time(),
                    })
            if problems:
                return self.reply(400, page("<h1>Refused</h1><p>%s</p>" % escape("; ".join(problems))))
            body = (
                '<h1 id="assessment-started">Final exam: in progress</h1>'
                '<p><a id="finish" href="/launch?message=end&amp;user=%s">Finish the attempt</a></p>'
                % escape(form.get("user", "learner-1"))
            )
            return self.reply(200, page(body, "Final exam"))
        return self.reply(404, page("no such page"))


def issue_token(handler, world, form):
    """The client-credentials grant: the package checks the assertion's
    signature against the tool's keys; its claims are checked here."""
    def refuse(why):
        with world.lock:
            world.problems.append("token: " + why)
        body = json.dumps({"error": "invalid_client", "error_description": why}).encode()
        return handler.reply(400, body, "application/json")
    try:
        claims = jwt.decode(form.get("client_assertion", ""), options={"verify_signature": False})
        reply = Platform(world).get_access_token(form)
    except Exception as error:
        return refuse("%s" % error)
    if claims.get("iss") != CLIENT_ID or claims.get("sub") != CLIENT_ID:
        return refuse("the assertion is not by and about the client")
    if claims.get("aud") not in (world.issuer + "/token", world.issuer, [world.issuer + "/token"]):
        return refuse("the assertion's audience is %r" % claims.get("aud"))
    if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
        return refuse("client_assertion_type")
    if ACS_SCOPE not in (reply.get("scope") or ""):
        return refuse("the control scope was not granted")
    return handler.reply(200, json.dumps(reply).encode(), "application/json")


def take_control(handler, world, raw):
    """A control: a token this platform issued for the control scope, the
    control media type, the fields the spec requires."""
    bearer = (handler.headers.get("authorization") or "").removeprefix("Bearer ")
    if not Platform(world).validate_token(bearer, [ACS_SCOPE]):
        return handler.reply(401, b"invalid token", "text/plain")
    if handler.headers.get("content-type") != ACS_MEDIA_TYPE:
        return handler.reply(406, b"wrong media type", "text/plain")
    control = json.loads(raw or b"{}")
    missing = [
        name for name, value in [
            ("user.iss", (control.get("user") or {}).get("iss")),
            ("user.sub", (control.get("user") or {}).get("sub")),
            ("resource_link.id", (control.get("resource_link") or {}).get("id")),
            ("attempt_number", control.get("attempt_number")),
            ("action", control.get("action")),
            ("incident_time", control.get("incident_time")),
        ] if value in (None, "")
    ]
    if missing:
        return handler.reply(400, ("missing " + ", ".join(missing)).encode(), "text/plain")
    with world.lock:
        world.controls.append(control)
    status = {"pause": "paused", "terminate": "terminated"}.get(control["action"], "running")
    reply = {"status": status}
    if control["action"] == "update":
        reply["extra_time"] = control.get("extra_time")
    return handler.reply(200, json.dumps(reply).encode(), ACS_MEDIA_TYPE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", required=True, help="invigil's base URL")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    Handler.world = World("http://127.0.0.1:%d" % port, args.tool)
    print("listening %d" % port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
