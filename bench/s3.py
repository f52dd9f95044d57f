#!/usr/bin/env python3
"""Benchmark sstate-cache-management on a mirror in a local S3 server.

Generates a deterministic cache (examples/gencache, seed 1), starts the
test suite's S3 server (tests/support/s3server.py: moto on 127.0.0.1),
uploads the cache into it with every key's last-modified set to its file's
mtime, and measures, in the same run:

  floor         examples/s3list: a plain parallel listing of every key
                with the same client (object_store) and the same -j
  cold scan     no index yet
  warm scan     index present, nothing changed (a store is listed again)
  cold -d -n    plan only, no index
  -d -y         the real removal: re-check (re-list / HEAD), batched deletes

with the requests each step made, as the server counted them (GET covers
list pages and siginfo reads; POST the multi-object deletes), and each
command's peak RSS. Times are ratios to the floor of the same run: the
server is one Python process, so absolute seconds measure moto, not the
tool; the request counts are what a real store would bill and wait for.

  python3 bench/s3.py --objects 100000
  python3 bench/s3.py --smoke              # tiny, for the test suite
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, TARGET, run  # noqa: E402


def control(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_test/{path}", data=b"" if "mirror" in path else None, timeout=3600) as r:
        return r.read().decode()


def requests(port):
    out = {}
    for line in control(port, "requests").splitlines():
        m, n = line.split()
        out[m] = int(n)
    return out


def diff(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def fmt(reqs):
    return ", ".join(f"{n} {m}" for m, n in sorted(reqs.items())) or "none"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--jobs", type=int, default=32)
    ap.add_argument("--work", help="where the cache is generated (default target/bench-s3)")
    ap.add_argument("--bin", default=os.path.join(TARGET, "release", "sstate-cache-management"))
    ap.add_argument("--gencache", default=os.path.join(TARGET, "release", "examples", "gencache"))
    ap.add_argument("--s3list", default=os.path.join(TARGET, "release", "examples", "s3list"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="200 objects (for the test suite)")
    args = ap.parse_args()
    if args.smoke:
        args.objects = 200
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bins", "--examples"], cwd=ROOT, check=True)
    work = args.work or tempfile.mkdtemp(prefix="sscm-bench-s3-")
    cache = os.path.join(work, f"c{args.objects}")
    if not os.path.isdir(cache):
        subprocess.run([args.gencache, "--objects", str(args.objects), "--seed", "1", cache],
                       check=True, stdout=subprocess.DEVNULL)
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "support", "s3server.py")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("READY "):
            sys.exit(f"the S3 server did not start (pip install 'moto[server]'): {server.stderr.read()}")
        port = int(line.split()[1])
        endpoint = f"http://127.0.0.1:{port}"
        keys = int(control(port, f"mirror?bucket=bench&prefix=sstate&dir={urllib.request.quote(cache)}"))
        env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
        os.environ.update(env)
        index = os.path.join(work, "mirror-index.sqlite")
        for f in [index, index + "-wal", index + "-shm"]:
            if os.path.exists(f):
                os.remove(f)
        tool = [args.bin, "--cache-dir", "s3://bench/sstate", "--s3-endpoint", endpoint,
                "--index", index, "-j", str(args.jobs)]
        rows = []

        def step(name, cmd, reset_index=False):
            if reset_index:
                for f in [index, index + "-wal", index + "-shm"]:
                    if os.path.exists(f):
                        os.remove(f)
            before = requests(port)
            dt, peak, out = run(cmd)
            rows.append((name, dt, peak, diff(requests(port), before), out))
            return out

        step("floor: parallel listing (s3list)", [args.s3list, "s3://bench/sstate", endpoint, str(args.jobs)])
        step("cold scan", tool + ["scan"], reset_index=True)
        step("warm scan", tool + ["scan"])
        plan = step("cold -d -n", tool + ["-d", "-n"], reset_index=True)
        step("warm -d -n", tool + ["-d", "-n"])
        step("-d -y", tool + ["-d", "-y"])
        left = len([k for k in control(port, "keys?bucket=bench").splitlines() if k.startswith("sstate/")])
        floor = rows[0][1]
        print(f"### {args.objects:,} objects, {keys:,} keys, -j {args.jobs}\n")
        print("| step | s | × floor | requests | peak MB |")
        print("|---|---|---|---|---|")
        for name, dt, peak, reqs, _ in rows:
            print(f"| {name} | {dt:.2f} | {dt / floor:.2f}× | {fmt(reqs)} | {peak // 1024} |")
        selected = plan.strip().splitlines()[-1] if plan.strip() else ""
        print(f"\n- plan: {selected}")
        print(f"- keys left after -d -y: {left:,} of {keys:,}")
        print(f"- removal: {rows[-1][4].strip().splitlines()[-1] if rows[-1][4].strip() else ''}")
    finally:
        server.kill()
        server.wait()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
