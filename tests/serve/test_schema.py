"""Property-based: schemathesis generates requests from /openapi.json; none may get a 5xx (in-process)."""

from __future__ import annotations

import schemathesis
import serve_models
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from serve_helpers import free_port, loopback_resolver

from siteclass.config import CrawlSettings, ServeSettings, Settings
from siteclass.serve.app import create_app

# Live fetches go to a closed local "proxy", so a generated public address is never contacted.
_SETTINGS = Settings(
    serve=ServeSettings(proxy=f"http://127.0.0.1:{free_port()}", fetch_timeout_s=5.0, cache_size=0),
    crawl=CrawlSettings(page_timeout_s=2.0, obey_robots=False),
)
app = create_app(serve_models.trained(), _SETTINGS, resolver=loopback_resolver())
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, case.body, response.status_code, response.text)
