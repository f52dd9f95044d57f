#!/usr/bin/env python3
"""A real S3-compatible server for the tests: moto's S3 in server mode,
on 127.0.0.1, wrapped by a small WSGI layer that adds what the tests need
and S3 does not offer:

- POST /_test/mirror?bucket=B&prefix=P&dir=D   upload the tree D under P,
  each key's last-modified set to its file's mtime (S3 itself always
  stamps the upload time; a cache under test needs old objects)
- POST /_test/mtime?bucket=B&key=K&mtime=SECS  set one key's last-modified
- POST /_test/put?bucket=B&key=K&data=TEXT    write a key (a new ETag)
- POST /_test/delete?bucket=B&key=K            delete a key
- GET  /_test/keys?bucket=B                    the keys, one per line
- POST /_test/fault?method=M&contains=S&status=N&times=T
       answer the next T requests of method M whose key (or, for a
       multi-object delete, one of its keys) contains S with HTTP N
       (a multi-object delete answers N for those keys only, in its
       result, as S3 does; the others are deleted)
- GET  /_test/faults                           each fault with the times left
- GET  /_test/requests                         requests served, by method

Everything else is moto's S3: the tool under test talks to it with its
production client. Prints "READY <port>" once it accepts connections.

Usage: s3server.py [PORT]   (0 or nothing: any free port)
"""

import datetime
import io
import os
import re
import sys
import threading
import urllib.parse
from collections import Counter

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3.models import s3_backends
from werkzeug.serving import WSGIRequestHandler, make_server

FAULTS = []
REQUESTS = Counter()
LOCK = threading.Lock()


def backend():
    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


def set_mtime(bucket, key, secs):
    k = backend().get_object(bucket, key)
    if k is None:
        raise KeyError(key)
    k.last_modified = datetime.datetime.fromtimestamp(float(secs), datetime.timezone.utc).replace(tzinfo=None)


def mirror(bucket, prefix, root):
    b = backend()
    if bucket not in b.buckets:
        b.create_bucket(bucket, "us-east-1")
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".sstate-cache-management"]
        for f in filenames:
            path = os.path.join(dirpath, f)
            if os.path.islink(path):
                continue
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            key = f"{prefix}/{rel}" if prefix else rel
            with open(path, "rb") as fh:
                b.put_object(bucket, key, fh.read())
            set_mtime(bucket, key, os.stat(path).st_mtime)
            n += 1
    return n


def reply(start_response, status, body, ctype="text/plain"):
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]


def s3_error(start_response, status, code):
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected by the test server</Message></Error>'
    return reply(start_response, f"{status} {code}", body, "application/xml")


CODES = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError", 503: "SlowDown"}


def take_fault(method, keys):
    """The status of the first matching fault (and count it down), and the
    keys it matches."""
    with LOCK:
        for f in FAULTS:
            if f["times"] <= 0 or f["method"] != method:
                continue
            hit = [k for k in keys if f["contains"] in k]
            if hit:
                f["times"] -= 1
                return f["status"], hit
    return None, []


def control(environ, start_response, app):
    q = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    what = environ["PATH_INFO"][len("/_test/"):]
    try:
        if what == "mirror":
            n = mirror(q["bucket"], q.get("prefix", ""), q["dir"])
            return reply(start_response, "200 OK", str(n))
        if what == "mtime":
            set_mtime(q["bucket"], q["key"], q["mtime"])
            return reply(start_response, "200 OK", "ok")
        if what == "delete":
            backend().delete_object(q["bucket"], q["key"])
            return reply(start_response, "200 OK", "ok")
        if what == "put":
            backend().put_object(q["bucket"], q["key"], q.get("data", "").encode())
            return reply(start_response, "200 OK", "ok")
        if what == "keys":
            b = backend().get_bucket(q["bucket"])
            return reply(start_response, "200 OK", "".join(k + "\n" for k in sorted(b.keys.keys())))
        if what == "fault":
            with LOCK:
                FAULTS.append({
                    "method": q["method"].upper(),
                    "contains": q["contains"],
                    "status": int(q["status"]),
                    "times": int(q.get("times", "1")),
                })
            return reply(start_response, "200 OK", "ok")
        if what == "faults":
            with LOCK:
                return reply(start_response, "200 OK", "".join(
                    f"{f['method']} {f['status']} {f['times']} {f['contains']}\n" for f in FAULTS))
        if what == "requests":
            with LOCK:
                return reply(start_response, "200 OK", "".join(f"{m} {n}\n" for m, n in sorted(REQUESTS.items())))
    except Exception as e:  # a test's mistake: say it
        return reply(start_response, "400 Bad Request", f"{type(e).__name__}: {e}")
    return reply(start_response, "404 Not Found", "unknown test control " + what)


def bulk_delete(environ, start_response, app, body):
    """A multi-object delete with faults on some keys: moto deletes the
    others; the faulted keys are answered as errors in the result."""
    keys = [urllib.parse.unquote(k) for k in re.findall(r"<Key>(.*?)</Key>", body.decode())]
    status, hit = take_fault("DELETE", keys)
    if status is None:
        return None
    if len(hit) == len(keys) and status >= 500:
        # The whole request fails (the client retries it).
        return s3_error(start_response, status, CODES.get(status, "Error"))
    keep = body.decode()
    for k in hit:
        keep = re.sub(r"<Object>\s*<Key>" + re.escape(k) + r"</Key>\s*</Object>", "", keep)
    keep = keep.encode()
    environ["wsgi.input"] = io.BytesIO(keep)
    environ["CONTENT_LENGTH"] = str(len(keep))
    environ.pop("HTTP_CONTENT_MD5", None)
    environ.pop("HTTP_X_AMZ_CHECKSUM_SHA256", None)
    captured = {}

    def capture(status_line, headers, exc_info=None):
        captured["status"] = status_line
        captured["headers"] = headers

    out = b"".join(app(environ, capture)).decode()
    errors = "".join(
        f"<Error><Key>{k}</Key><Code>{CODES.get(status, 'Error')}</Code><Message>injected</Message></Error>"
        for k in hit
    )
    out = out.replace("</DeleteResult>", errors + "</DeleteResult>")
    headers = [(h, v) for h, v in captured.get("headers", []) if h.lower() != "content-length"]
    data = out.encode()
    headers.append(("Content-Length", str(len(data))))
    start_response(captured.get("status", "200 OK"), headers)
    return [data]


def make_app():
    app = DomainDispatcherApplication(create_backend_app)

    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_test/"):
            return control(environ, start_response, app)
        method = environ["REQUEST_METHOD"]
        with LOCK:
            REQUESTS[method] += 1
        if method == "POST" and "delete" in environ.get("QUERY_STRING", ""):
            n = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(n)
            environ["wsgi.input"] = io.BytesIO(body)
            done = bulk_delete(environ, start_response, app, body)
            if done is not None:
                return done
            environ["wsgi.input"] = io.BytesIO(body)
        else:
            key = urllib.parse.unquote(path + "?" + environ.get("QUERY_STRING", ""))
            status, _ = take_fault(method, [key])
            if status is not None:
                if method == "HEAD":
                    start_response(f"{status} {CODES.get(status, 'Error')}", [("Content-Length", "0")])
                    return [b""]
                return s3_error(start_response, status, CODES.get(status, "Error"))
        return app(environ, start_response)

    return wrapped


class Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = make_server("127.0.0.1", port, make_app(), threaded=True, request_handler=Quiet)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
