"""Start a real uvicorn server on 127.0.0.1 with the test keyword model: ``python run_server.py PORT [DELAY_S]``.

Used by the tests and bench scripts that need a server in its own process; settings come from the
SITECLASS_TEST_SERVE JSON environment variable (ServeSettings fields)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import serve_models
import uvicorn

from siteclass.config import ServeSettings
from siteclass.serve.app import create_app
from siteclass.serve.protocol import NoDelayHTTPProtocol

if __name__ == "__main__":
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    settings = ServeSettings(**json.loads(os.environ.get("SITECLASS_TEST_SERVE", "{}")))
    app = create_app(serve_models.trained(delay_s=delay), settings)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", http=NoDelayHTTPProtocol)
