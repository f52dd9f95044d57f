#!/usr/bin/env python3
"""Benchmark sstate-cache-management against the cost floor of a walk.

Generates deterministic caches (examples/gencache, seed 1) of each size and
measures, in the same run and with the page cache warm:

  floor        find DIR -printf '%s %T@ %p\\n' > /dev/null (list + stat all)
  cold -d -n   no index yet
  warm -d -n   index present, nothing changed
  churn -d -n  after 1% of the objects changed (half removed, half added)
  full -d -n   warm index, --full-rescan
  stamps cold / warm   --stamps-dir with and without an index
  report       warm
  remove -d -y the real removal, files/s and the index update's share

Every time is the median of --repeat runs; ratios are to the floor measured
in the same run. Peak memory is each command's max RSS (GNU time, else wait4).

  python3 bench/run.py                      # 100k and 300k objects
  python3 bench/run.py --sizes 300000 1000000
  python3 bench/run.py --smoke              # tiny, for the test suite

--nfs runs the scan and removal steps on a simulated NFS mount instead: the
generated cache is mirrored by tools/latencyfs (a FUSE passthrough that
answers every request --delay-us after it arrived, with no attribute or
entry caching in the kernel, so every stat, lookup, readdir and unlink is a
round trip) and each step is measured for every --jobs value against find
on the same mount, with the daemon's request counts:

  python3 bench/run.py --nfs --delay-us 200 --sizes 20000 --jobs 1 8 32

  find         find MNT -printf '%s %T@ %p\n' (serial: one request at a time)
  pwalk -j N   a parallel find (tools/latencyfs/src/bin/pwalk.rs): what N
               threads of list + lstat can reach on this mount
  cold -d -n   no index yet (the index is on local disk, as by default)
  warm -d -n   the index kept, after 1% of the objects were reused (their
               files touched, as a build that restores them does)
  remove -d -y on a fresh copy of the cache, its index built beforehand;
               against xargs -0 -P2 rm -f of the same files on the mount
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where cargo puts the binaries (it honours CARGO_TARGET_DIR, relative to ROOT).
TARGET = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR") or "target")


# GNU time reports a command's own peak RSS; without it, wait4's figure is
# used, which cannot go below the harness's own RSS (it survives exec).
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run(cmd, check=True, discard=False):
    """Run cmd; return (seconds, peak_kb, stdout)."""
    timed = [GNU_TIME, "-f", "__peak_kb=%M"] + cmd if GNU_TIME else cmd
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        sink = subprocess.DEVNULL if discard else out
        p = subprocess.Popen(timed, stdin=subprocess.DEVNULL, stdout=sink, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if check and p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{stderr}")
    peak = usage.ru_maxrss
    for line in stderr.splitlines():
        if line.startswith("__peak_kb="):
            peak = int(line.split("=", 1)[1])
    return dt, peak, stdout


def drop_index(path):
    """Delete an index with its WAL (the tool keeps one between runs)."""
    for f in (path, path + "-wal", path + "-shm"):
        if os.path.exists(f):
            os.unlink(f)


def find_floor(cache):
    return run(["find", cache, "-printf", "%s %T@ %p\n"], discard=True)


def walk_files(root):
    """Every non-directory below `root`, as paths relative to it."""
    out = set()
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        out.update(os.path.normpath(os.path.join(rel, f)) for f in files)
    return out


def median_of(n, fn):
    results = [fn() for _ in range(n)]
    return (statistics.median(r[0] for r in results), max(r[1] for r in results), results[-1][2])


def archive_stems(cache):
    stems = {}
    for dirpath, _, files in os.walk(cache):
        for f in files:
            if f.startswith("sstate:") and f.endswith(".tar.zst"):
                stems[os.path.join(dirpath, f[: -len(".tar.zst")])] = True
    return sorted(stems)


def reuse(cache, fraction, rng):
    """Builds reuse `fraction` of the objects: archive, .sig and .siginfo
    touched in place (sstate_unpack_package), no directory changes."""
    stems = archive_stems(cache)
    now = time.time()
    k = max(1, int(len(stems) * fraction))
    for stem in rng.sample(stems, k):
        for ext in (".tar.zst", ".tar.zst.sig", ".tar.zst.siginfo"):
            try:
                os.utime(stem + ext, (now, now))
            except FileNotFoundError:
                pass
    return k


def churn(cache, fraction, rng):
    """Change `fraction` of the objects: remove half of them (all their
    files), add as many new objects (archive + a real siginfo, copied from
    one in the cache) in new hash dirs."""
    stems = archive_stems(cache)
    k = max(2, int(len(stems) * fraction))
    picked = rng.sample(stems, k)
    for stem in picked[: k // 2]:
        for ext in (".tar.zst", ".tar.zst.siginfo", ".tar.zst.sig"):
            try:
                os.unlink(stem + ext)
            except FileNotFoundError:
                pass
    siginfo = b"x" * 512
    for stem in picked[:50]:
        try:
            with open(stem + ".tar.zst.siginfo", "rb") as fh:
                siginfo = fh.read()
            break
        except FileNotFoundError:
            continue
    for stem in picked[k // 2 :]:
        name = os.path.basename(stem)
        head, hash_task = name.rsplit(":", 1)
        new_hash = "%064x" % rng.getrandbits(256)
        task = hash_task.split("_", 1)[1]
        rel = os.path.relpath(os.path.dirname(stem), cache).split(os.sep)
        extrapath = rel[:-2] if len(rel) >= 2 else []
        d = os.path.join(cache, *extrapath, new_hash[:2], new_hash[2:4])
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{head}:{new_hash}_{task}.tar.zst"), "wb") as fh:
            fh.write(b"x" * 512)
        with open(os.path.join(d, f"{head}:{new_hash}_{task}.tar.zst.siginfo"), "wb") as fh:
            fh.write(siginfo)
    return k


def query_value(args, cache, index, sql):
    out = subprocess.run([args.bin, "query", "--cache-dir", cache, "--index", index, "--format", "csv", sql],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()[1]


def bench_size(args, n, work):
    cache = os.path.join(work, f"cache-{n}")
    stamps = os.path.join(work, f"stamps-{n}")
    index = os.path.join(work, f"index-{n}.sqlite")
    for p in (cache, stamps):
        shutil.rmtree(p, ignore_errors=True)
    t0 = time.perf_counter()
    gen = subprocess.run(
        [args.gencache, "--objects", str(n), "--seed", "1", "--stamps", stamps, cache],
        capture_output=True, text=True, check=True)
    gen_s = time.perf_counter() - t0
    counts = dict(kv.split("=") for kv in gen.stdout.split())
    print(f"# {n} objects: generated in {gen_s:.1f} s: {gen.stdout.strip()}", file=sys.stderr)

    tool = [args.bin, "--cache-dir", cache, "--index", index, "-j", str(args.jobs)]
    rows = {}
    r = args.repeat
    find_floor(cache)  # warm the page cache
    rows["floor"] = median_of(r, lambda: find_floor(cache))

    def cold(extra):
        def once():
            drop_index(index)
            return run(tool + extra)
        return once

    rows["cold -d -n"] = median_of(r, cold(["-d", "-n"]))
    rows["warm -d -n"] = median_of(r, lambda: run(tool + ["-d", "-n"]))
    rng = random.Random(1)

    def churned():
        churn(cache, 0.01, rng)
        time.sleep(args.settle)  # out of the racy window, as a real cache would be
        return run(tool + ["-d", "-n"])

    run(tool + ["-d", "-n"])
    rows["warm -d -n after 1% churn"] = median_of(r, churned)

    def reused():
        reuse(cache, 0.01, rng)
        churn(cache, 0.01, rng)
        time.sleep(args.settle)
        return run(tool + ["-d", "-n"])

    rows["warm -d -n after 1% reuse + 1% churn"] = median_of(r, reused)

    # Last-use policies: a cutoff at the median last use (half the cache
    # stays, and its siginfo files are read), a budget of half the bytes
    # (--max-size reads every siginfo).
    days = int(query_value(args, cache, index,
        "SELECT CAST((unixepoch('now') - last_used) / 86400 AS INT) FROM objects "
        "ORDER BY last_used LIMIT 1 OFFSET (SELECT count(*) / 2 FROM objects)"))
    half = int(query_value(args, cache, index, "SELECT sum(disk_bytes) / 2 FROM objects"))
    age = ["--older-than", f"{max(days, 1)}d", "-n"]
    size = ["--max-size", str(half), "-n"]
    edges = {}

    def with_edges(name, cmd):
        def once():
            dt, peak, out = run(cmd + ["--format", "json"])
            e = json.loads(out)["plan"].get("edges") or {}
            edges[name] = (e.get("read", 0), e.get("duration_ms", 0))
            return dt, peak, out
        return once

    def cold_edges(name, extra):
        def once():
            drop_index(index)
            return with_edges(name, tool + extra)()
        return once

    rows["cold --older-than (median age) -n"] = median_of(r, cold_edges("cold age", age))
    rows["warm --older-than (median age) -n"] = median_of(r, with_edges("warm age", tool + age))
    rows["cold --max-size 50% -n"] = median_of(r, cold_edges("cold size", size))
    rows["warm --max-size 50% -n"] = median_of(r, with_edges("warm size", tool + size))

    def size_churned():
        churn(cache, 0.01, rng)
        time.sleep(args.settle)
        return with_edges("churn size", tool + size)()

    rows["warm --max-size 50% -n after 1% churn"] = median_of(r, size_churned)
    rows["warm -d -n --full-rescan"] = median_of(r, lambda: run(tool + ["-d", "-n", "--full-rescan"]))
    rows["cold --stamps-dir -n"] = median_of(r, cold(["--stamps-dir", stamps, "-n"]))
    rows["warm --stamps-dir -n"] = median_of(r, lambda: run(tool + ["--stamps-dir", stamps, "-n"]))
    report_cmd = [args.bin, "report", "--cache-dir", cache, "--index", index, "-j", str(args.jobs)]
    rows["report (warm)"] = median_of(r, lambda: run(report_cmd))

    # The real removal, last: it changes the cache. A copy of the cache as
    # it is now gives the unlink floor: `xargs -0 -P2 rm -f` of exactly the
    # files the tool removed, on the same disk, in the same run.
    rows["floor (before removal)"] = median_of(r, lambda: find_floor(cache))
    twin = cache + ".twin"
    shutil.rmtree(twin, ignore_errors=True)
    subprocess.run(["cp", "-a", cache, twin], check=True)
    before = walk_files(cache)
    dt, peak, out = run(tool + ["-d", "-y", "--format", "json"])
    doc = json.loads(out)
    removed = doc["result"]["removed_files"]
    t = doc["timings_ms"]
    rows["remove -d -y"] = (dt, peak, out)
    gone = sorted(before - walk_files(cache))
    listing = b"".join(os.path.join(twin, rel).encode() + b"\0" for rel in gone)
    subprocess.run(["sync"], check=True)
    t0 = time.perf_counter()
    subprocess.run(["xargs", "-0", "-P2", "-n", "1000", "rm", "-f"], input=listing, check=True)
    rows["unlink floor (xargs -0 -P2 rm -f, same files)"] = (time.perf_counter() - t0, 0, "")
    left = len(gone) - sum(1 for rel in gone if not os.path.lexists(os.path.join(twin, rel)))
    if left:
        sys.exit(f"unlink floor: {left} files were not removed from {twin}")
    shutil.rmtree(twin, ignore_errors=True)
    removal = {
        "files": removed,
        "vs_unlink_floor": dt / max(rows["unlink floor (xargs -0 -P2 rm -f, same files)"][0], 1e-9),
        "files_per_s": removed / max(t["remove"], 1) * 1000,
        "unlink_ms": t["remove"],
        "index_update_ms": t["index_update"],
    }
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(stamps, ignore_errors=True)
    drop_index(index)
    return {"objects": n, "entries": int(counts["entries"]), "rows": rows, "removal": removal,
            "edges": edges, "median_days": days}


def table(results):
    sizes = [res["objects"] for res in results]
    head = "| step | " + " | ".join(f"{s:,} objects: s / × floor / peak MB" for s in sizes) + " |"
    out = [head, "|---" * (len(sizes) + 1) + "|"]
    names = list(results[0]["rows"].keys())
    for name in names:
        cells = []
        for res in results:
            floor = res["rows"]["floor"][0]
            dt, peak, _ = res["rows"][name]
            cells.append(f"{dt:.3f} / {dt / floor:.2f}× / {peak / 1024:.0f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    for res in results:
        rm = res["removal"]
        out.append(
            f"- {res['objects']:,} objects ({res['entries']:,} entries): removal of {rm['files']:,} files "
            f"at {rm['files_per_s']:,.0f} files/s (unlink {rm['unlink_ms']} ms, index update {rm['index_update_ms']} ms), "
            f"{rm['vs_unlink_floor']:.2f}× the unlink floor")
    for res in results:
        e = res.get("edges", {})
        parts = [f"{k}: {v[0]:,} siginfo read in {v[1]} ms" for k, v in e.items()]
        if parts:
            out.append(f"- {res['objects']:,} objects (median age {res['median_days']} days), edges: "
                       + "; ".join(parts))
    if len(results) >= 2:
        a, b = results[-2], results[-1]
        ratio = b["rows"]["cold -d -n"][0] / a["rows"]["cold -d -n"][0]
        mem = b["rows"]["cold -d -n"][1] / max(a["rows"]["cold -d -n"][1], 1)
        out.append(
            f"- cold -d -n at {b['objects']:,} vs {a['objects']:,} objects: {ratio:.2f}× the time, "
            f"{mem:.2f}× the peak memory ({b['objects'] / a['objects']:.2f}× the objects)")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Simulated NFS (--nfs)


class LatencyFs:
    """A latencyfs mount of `source` on `mnt`, with its request counts."""

    def __init__(self, args, source, mnt, stats):
        self.stats = stats
        if os.path.exists(stats):
            os.unlink(stats)  # a previous daemon's counts
        os.makedirs(mnt, exist_ok=True)
        self.mnt = mnt
        self.proc = subprocess.Popen(
            [args.latencyfs, source, mnt, "--delay-us", str(args.delay_us),
             "--threads", str(args.fuse_threads), "--stats", stats],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.wait()
            sys.exit(f"latencyfs did not mount {mnt}: {self.proc.stderr.read()}")
        self.seq = 0

    def counts(self):
        """The daemon's counts so far (asks it with SIGUSR1, waits for the dump)."""
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with open(self.stats) as fh:
                    doc = json.load(fh)
                if doc["seq"] > self.seq:
                    self.seq = doc["seq"]
                    return doc
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            time.sleep(0.02)
        sys.exit("latencyfs wrote no counts")

    def measure(self, cmd, check=True):
        """Run cmd on the mount: (seconds, stdout, requests, {op: n}, daemon CPU s)."""
        a = self.counts()
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        b = self.counts()
        if check and p.returncode != 0:
            sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
        ops = {k: b["ops"][k] - a["ops"][k] for k in b["ops"] if b["ops"][k] != a["ops"][k]}
        return dt, p.stdout, b["requests"] - a["requests"], ops, b["cpu_s"] - a["cpu_s"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.ismount(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], check=False)
        return self.proc.stderr.read()


def local_files(root):
    out = set()
    for dirpath, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(dirpath, f), root))
    return out


def nfs_size(args, n, work):
    src = os.path.join(work, "nfs-src")
    mnt = os.path.join(work, "nfs-mnt")
    index = os.path.join(work, f"nfs-index-{n}.sqlite")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    cache = os.path.join(src, "cache")
    gen = subprocess.run([args.gencache, "--objects", str(n), "--seed", "1", cache],
                         capture_output=True, text=True, check=True)
    counts = dict(kv.split("=") for kv in gen.stdout.split())
    print(f"# {n} objects: {gen.stdout.strip()}", file=sys.stderr)
    fs = LatencyFs(args, src, mnt, os.path.join(work, "nfs-stats.json"))
    rows = []  # (step, jobs, seconds, requests, ops, daemon cpu, note)
    removal = {}
    try:
        mcache = os.path.join(mnt, "cache")

        def row(step, jobs, m, note=""):
            dt, _, req, ops, cpu = m
            rows.append((step, jobs, dt, req, ops, cpu, note))
            print(f"# {step} ({jobs} jobs): {dt:.2f} s, {req:,} requests, daemon CPU {cpu:.2f} s {note}",
                  file=sys.stderr)

        row("find", 1, fs.measure(["find", mcache, "-printf", "%s %T@ %p\n"]))
        for j in args.jobs:
            if j > 1:
                row("pwalk", j, fs.measure([args.pwalk, "-j", str(j), mcache]))
        rng = random.Random(1)
        for j in args.jobs:
            tool = [args.bin, "--cache-dir", mcache, "--index", index, "-j", str(j)]
            drop_index(index)
            row("cold -d -n", j, fs.measure(tool + ["-d", "-n"]))
            k = reuse(cache, 0.01, rng)  # on the source: the touches cost no requests
            row("warm -d -n after 1% reuse", j, fs.measure(tool + ["-d", "-n"]), f"({k} objects touched)")
        # Removal: a fresh copy each time (made on the source, not timed),
        # its index built first, so the row is the removal run itself.
        removed = None
        rcache, mrcache = os.path.join(src, "rm"), os.path.join(mnt, "rm")
        rindex = os.path.join(work, f"nfs-index-rm-{n}.sqlite")
        for j in args.jobs:
            shutil.rmtree(rcache, ignore_errors=True)
            subprocess.run(["cp", "-a", cache, rcache], check=True)
            before = local_files(rcache)
            drop_index(rindex)
            tool = [args.bin, "--cache-dir", mrcache, "--index", rindex, "-j", str(j)]
            fs.measure(tool[:-1] + [str(max(args.jobs)), "-d", "-n"])  # the index, untimed
            m = fs.measure(tool + ["-d", "-y", "--format", "json"])
            doc = json.loads(m[1])
            t = doc["timings_ms"]
            gone = sorted(before - local_files(rcache))
            if removed is None:
                removed = gone
            row("remove -d -y", j, m, f"(unlink phase {t['remove'] / 1000:.2f} s, "
                f"index update {t['index_update'] / 1000:.2f} s, {len(gone):,} files)")
            removal[j] = {"files": len(gone), "unlink_s": t["remove"] / 1000,
                          "index_update_s": t["index_update"] / 1000, "scan_s": t["scan"] / 1000,
                          "plan_s": t["plan"] / 1000}
        shutil.rmtree(rcache, ignore_errors=True)
        subprocess.run(["cp", "-a", cache, rcache], check=True)
        listing = os.path.join(work, "nfs-rm-list")
        with open(listing, "wb") as fh:
            fh.write(b"".join(os.fsencode(os.path.join(mrcache, f)) + b"\0" for f in removed or []))
        m = fs.measure(["sh", "-c", f"xargs -0 -P2 rm -f < '{listing}'"])
        row("xargs -0 -P2 rm -f", 2, m, f"(the same {len(removed or []):,} files)")
        if removed is not None:
            left = local_files(rcache)
            assert not (set(removed) & left), "xargs rm left files behind"
        shutil.rmtree(rcache, ignore_errors=True)
        for p in (index, rindex, listing):
            if os.path.exists(p):
                os.unlink(p)
    finally:
        tail = fs.close()
        print(f"# {tail.strip().splitlines()[-1] if tail.strip() else 'latencyfs gone'}", file=sys.stderr)
        shutil.rmtree(src, ignore_errors=True)
    return {"objects": n, "entries": int(counts["entries"]), "dirs": int(counts["dirs"]),
            "rows": rows, "removal": removal}


def nfs_table(args, results):
    out = []
    for res in results:
        find = next(r for r in res["rows"] if r[0] == "find")
        walked = res["entries"] + res["dirs"]
        out.append(f"{res['objects']:,} objects ({res['entries']:,} entries in {res['dirs']:,} directories), "
                   f"{args.delay_us} µs per request:")
        out.append("")
        out.append("| step | -j | s | × find | requests | per entry or dir | daemon CPU s | |")
        out.append("|---|---|---|---|---|---|---|---|")
        for step, j, dt, req, ops, cpu, note in res["rows"]:
            out.append(f"| {step} | {j} | {dt:.2f} | {dt / find[2]:.2f}× | {req:,} | {req / walked:.2f} "
                       f"| {cpu:.2f} | {note} |")
        out.append("")
        for step, j, dt, req, ops, cpu, note in res["rows"]:
            top = ", ".join(f"{k} {v:,}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1]))
            out.append(f"- {step} -j {j}: {top}")
        out.append("")
        by = {(r[0], r[1]): r[2] for r in res["rows"]}
        jobs = [j for j in args.jobs if ("cold -d -n", j) in by]
        if 1 in jobs:
            for step in ("cold -d -n", "warm -d -n after 1% reuse", "remove -d -y"):
                sp = ", ".join(f"-j {j}: {by[(step, 1)] / by[(step, j)]:.1f}×" for j in jobs if j != 1)
                out.append(f"- {step}, speed-up over -j 1: {sp}")
        rm_x = by.get(("xargs -0 -P2 rm -f", 2))
        if rm_x:
            for j, rm in res["removal"].items():
                out.append(f"- remove -j {j}: unlink phase {rm['unlink_s']:.2f} s = {rm['unlink_s'] / rm_x:.2f}× "
                           f"xargs -P2 rm ({rm_x:.2f} s) for {rm['files']:,} files; the whole run "
                           f"{by[('remove -d -y', j)] / rm_x:.2f}×")
    return "\n".join(out)


def nfs_main(args, work):
    if not os.path.exists("/dev/fuse"):
        sys.exit("--nfs needs /dev/fuse")
    results = [nfs_size(args, n, work) for n in args.sizes]
    print(nfs_table(args, results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([r | {"rows": [dict(zip(("step", "jobs", "seconds", "requests", "ops", "daemon_cpu_s",
                                                 "note"), row)) for row in r["rows"]]}
                       for r in results], fh, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, nargs="+", default=None,
                    help="-j for the tool (default 8; --nfs: each of these, default 1 8 32)")
    ap.add_argument("--work", help="where caches are generated (default target/bench)")
    ap.add_argument("--profile", default="release",
                    help="cargo profile to build and measure: release (stripped, what is installed) or "
                         "profiling (the same code with line tables, for perf record)")
    ap.add_argument("--bin", help="the binary (default TARGET/PROFILE/sstate-cache-management)")
    ap.add_argument("--gencache", help="the generator (default TARGET/PROFILE/examples/gencache)")
    ap.add_argument("--no-build", action="store_true", help="use --bin and --gencache as they are")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (for the test suite)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--settle", type=float, default=2.1,
                    help="seconds to wait after churn (the scanner re-lists dirs changed within 2 s)")
    ap.add_argument("--nfs", action="store_true", help="on a simulated NFS mount (tools/latencyfs)")
    ap.add_argument("--delay-us", type=int, default=200, help="--nfs: delay per request (µs)")
    ap.add_argument("--fuse-threads", type=int, default=4, help="--nfs: the daemon's event loops")
    ap.add_argument("--latencyfs", help="--nfs: the daemon (default TARGET/release/latencyfs)")
    ap.add_argument("--pwalk", help="--nfs: the parallel find (default TARGET/release/pwalk)")
    args = ap.parse_args()
    out_dir = os.path.join(TARGET, args.profile)
    args.bin = args.bin or os.path.join(out_dir, "sstate-cache-management")
    args.gencache = args.gencache or os.path.join(out_dir, "examples/gencache")
    args.latencyfs = args.latencyfs or os.path.join(TARGET, "release", "latencyfs")
    args.pwalk = args.pwalk or os.path.join(TARGET, "release", "pwalk")
    if args.smoke:
        args.sizes, args.repeat, args.settle = [300, 600], 1, 0.0
    if args.jobs is None:
        args.jobs = [1, 8, 32] if args.nfs else [8]
    if not args.nfs:
        if len(args.jobs) != 1:
            sys.exit("--jobs takes one value without --nfs")
        args.jobs = args.jobs[0]
    if not args.no_build:
        subprocess.run(["cargo", "build", "--profile", args.profile, "--quiet", "--bin", "sstate-cache-management",
                        "--example", "gencache"], cwd=ROOT, check=True)
        if args.nfs:
            subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "latencyfs"], cwd=ROOT, check=True)
    exes = [args.bin, args.gencache] + ([args.latencyfs, args.pwalk] if args.nfs else [])
    for exe in exes:
        if not os.access(exe, os.X_OK):
            sys.exit(f"not executable: {exe}")
    work = args.work or (tempfile.mkdtemp(prefix="sscm-bench-") if args.smoke else os.path.join(ROOT, "target/bench"))
    os.makedirs(work, exist_ok=True)
    if args.nfs:
        print(f"# cores: {os.cpu_count()}, jobs: {args.jobs}, delay: {args.delay_us} µs, work dir: {work}",
              file=sys.stderr)
        nfs_main(args, work)
        if args.smoke:
            shutil.rmtree(work, ignore_errors=True)
        return
    print(f"# cores: {os.cpu_count()}, jobs: {args.jobs}, repeat: {args.repeat}, work dir: {work}", file=sys.stderr)
    results = [bench_size(args, n, work) for n in args.sizes]
    print(table(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([{k: v for k, v in r.items() if k != "rows"} | {
                "rows": {name: {"seconds": dt, "peak_kb": pk} for name, (dt, pk, _) in r["rows"].items()}}
                for r in results], fh, indent=2)
    if args.smoke:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
