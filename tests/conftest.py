"""Fixtures shared by several test files."""
import functools
import http.server
import os
import threading
import types

import pytest


class FaultyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, except for the URL paths listed in ``control.faults``.

    ``control.faults`` maps a URL path (``"/m1/f.gz"``) to ``("status", code)`` (answer with that HTTP
    status) or ``("truncate", n)`` (announce the full Content-Length, send only ``n`` bytes, then close
    the connection). Every GET path is appended to ``control.requests``.
    """

    control = types.SimpleNamespace(faults={}, requests=[])

    def log_message(self, *args, **kwargs):
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        self.control.requests.append(path)
        kind, value = self.control.faults.get(path, (None, None))
        if kind == "status":
            self.send_error(value)
        elif kind == "truncate":
            self._send_truncated(value)
        else:
            super().do_GET()

    def _send_truncated(self, n):
        with open(self.translate_path(self.path), "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:n])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def http_control():
    """What the ``server`` fixture's handler obeys and records: ``faults`` and ``requests`` (see FaultyHandler)."""
    return types.SimpleNamespace(faults={}, requests=[])


@pytest.fixture
def server(tmp_path, http_control, monkeypatch):
    """Serve ``tmp_path / "www"`` on 127.0.0.1 in a thread; yields (base URL, folder).

    Faults (HTTP errors, truncated bodies) are injected through the ``http_control`` fixture. Proxies
    are bypassed for 127.0.0.1 (a proxy from the environment must not see the test's requests).
    """
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    handler_class = type("Handler", (FaultyHandler,), {"control": http_control})
    handler = functools.partial(handler_class, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def umask_022():
    """The process's umask set to 022 (a shared machine's usual one) for the test, then restored."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)



@pytest.fixture(autouse=True, scope="session")
def compilation_cache_in_a_temporary_folder(tmp_path_factory):
    """The commands run in-process (and their subprocesses) keep compiled programs in a folder of the
    test session, never in the user's cache."""
    previous = os.environ.get("DEEP_SPARSE_CACHE")
    os.environ["DEEP_SPARSE_CACHE"] = str(tmp_path_factory.mktemp("jax-cache"))
    yield
    if previous is None:
        os.environ.pop("DEEP_SPARSE_CACHE", None)
    else:
        os.environ["DEEP_SPARSE_CACHE"] = previous
