"""Load test of /api/nearest under the production server, against a bare KD-tree endpoint.

    python benchmarks/load_nearest.py [--duration 60] [--connections 64] [--stations 10000]

Loopback only, bounded in time.  Starts ``yizhan serve --production`` (gunicorn, 2 workers) on a
temporary home with N stations and the nearest-station rate limit raised for this client, then
the bare Flask endpoint (benchmarks/bare_app.py: only the KD-tree query) under the same gunicorn
settings, and drives each with wrk (Debian package ``wrk``) using random points in Guangdong.
Prints requests/s, p50/p99 latency, errors and server memory (RSS of master + workers) before
and after, and the ratio yizhan / bare (target >= 60 %, 0 errors).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LUA = """
math.randomseed(%d)
request = function()
  local lon = 112.5 + math.random() * 2.5
  local lat = 22.5 + math.random() * 1.5
  return wrk.format("GET", string.format("%s?lon=%%.5f&lat=%%.5f%s", lon, lat))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(pid: int) -> float:
    """RSS of a process and its children (MiB), from /proc."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
        pids += [int(p) for p in out.split()]
    except FileNotFoundError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server did not answer: {url}")


def _wrk(url_path: str, suffix: str, duration: int, connections: int, port: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA % (42, url_path, suffix))
        script = fh.name
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    os.unlink(script)

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "requests": total, "errors": non2xx + sock}


def _stations(home: Path, n: int) -> np.ndarray:
    from yizhan.stations import model
    from yizhan.stations.storage import Registry

    rng = np.random.default_rng(3)
    frame = model.empty_frame().reindex(range(n))
    frame["id"] = [f"L{i:05d}" for i in range(n)]
    frame["name"] = [f"负载测试站{i}" for i in range(n)]
    frame["type"] = rng.choice(model.STATION_TYPES, n)
    frame["groups"] = [model.SEP.join(model.DEFAULT_GROUPS_BY_TYPE[t]) for t in frame["type"]]
    frame["lon"], frame["lat"] = rng.uniform(112.5, 115.0, n), rng.uniform(22.5, 24.0, n)
    frame["hours"] = rng.choice(["08:00-20:00", "24h", ""], n)
    frame["status"] = "在运营"
    for c in ("address", "adcode", "host", "services", "phone", "source", "updated_at"):
        frame[c] = ""
    frame["orig_crs"] = "wgs84"
    Registry(f"sqlite:///{home / 'yizhan.sqlite'}").import_frame(frame, user="load-test")
    return frame[["lon", "lat"]].to_numpy()


def _run_server(cmd: list[str], env: dict[str, str], port: int, probe: str, args) -> tuple[dict, float, float]:  # noqa: ANN001
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait(f"http://127.0.0.1:{port}{probe}")
        before = _rss_mib(proc.pid)
        result = _wrk(*args, port)
        after = _rss_mib(proc.pid)
        return result, before, after
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        xy = _stations(home, args.stations)
        np.save(Path(tmp) / "stations.npy", xy)
        env = dict(os.environ, YIZHAN_RATE_LIMIT_NEAREST="100000000 per minute", BARE_STATIONS=str(Path(tmp) / "stations.npy"))
        port = _free_port()
        ours = _run_server([sys.executable, "-m", "yizhan.cli", "--home", str(home), "serve", "--production",
                            "--workers", str(args.workers), "--port", str(port)], env, port,
                           "/api/nearest?lon=113.3&lat=23.1", ("/api/nearest", "&k=5", args.duration, args.connections))
        port = _free_port()
        bare = _run_server([sys.executable, "-m", "gunicorn", "--chdir", str(HERE), "-w", str(args.workers),
                            "--threads", "4", "-k", "gthread", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                            "bare_app:app"], env, port, "/q?lon=113.3&lat=23.1",
                           ("/q", "", args.duration, args.connections))
    print(f"load test: {args.stations:,} stations, {args.connections} connections, {args.duration} s, "
          f"gunicorn {args.workers} workers x 4 threads, loopback")
    for label, (res, before, after) in (("yizhan /api/nearest", ours), ("bare KD-tree endpoint", bare)):
        print(f"  {label:<22} {res['rps']:8.0f} req/s  p50 {res['p50']:6.1f} ms  p99 {res['p99']:6.1f} ms  "
              f"requests {res['requests']:,}  errors {res['errors']}  memory {before:.0f} -> {after:.0f} MiB")
    ratio = ours[0]["rps"] / bare[0]["rps"]
    print(f"  ratio yizhan / bare: {ratio:.0%}  (target >= 60 %, 0 errors)")


if __name__ == "__main__":
    main()
