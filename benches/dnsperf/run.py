#!/usr/bin/env python3
"""Side-by-side DNS benchmark: headless-dns against Knot DNS (and NSD when
installed) on one generated headless-service zone, on loopback.

It generates one data set (services x pods) and writes it twice: as
Kubernetes YAML (headless Services + EndpointSlices) for headless-dns and as
a zone file for the reference servers. It starts every server on its own
loopback port, first checks that they give identical answers (rcode, flags,
answer, authority, additional; order and TTL aside) for every query of both
mixes, then runs dnsperf interleaved (A, B, A, B, ...) for several rounds,
and prints the median QPS, latency and server CPU time per query, with the
ratios to the best reference.

    python3 benches/dnsperf/run.py [--seconds 5] [--rounds 3] [--binary target/release/headless-dns]

It installs nothing: missing tools are named with the apt-get line to run.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZONE = "cluster.local"
NS = "bench"


def free_port():
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def pod_ip(i, j):
    return f"10.{100 + i // 250}.{i % 250}.{j + 1}"


def generate(tmp, services, pods):
    """Writes the YAML for headless-dns; returns the data as a list."""
    data = []
    docs = []
    for i in range(services):
        svc = f"svc-{i:04d}"
        endpoints = [(f"{svc}-{j}", pod_ip(i, j)) for j in range(pods)]
        data.append((svc, endpoints))
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: {svc}, namespace: {NS}}}\n"
            f"spec:\n  clusterIP: None\n  ports: [{{name: web, port: 80}}]\n"
        )
        eps = "".join(
            f"  - addresses: [\"{ip}\"]\n    hostname: {host}\n    conditions: {{ready: true}}\n"
            for host, ip in endpoints
        )
        docs.append(
            f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            f"metadata:\n  name: {svc}-x\n  namespace: {NS}\n  labels: {{kubernetes.io/service-name: {svc}}}\n"
            f"addressType: IPv4\nports: [{{name: web, port: 80, protocol: TCP}}]\nendpoints:\n{eps}"
        )
    os.makedirs(os.path.join(tmp, "manifests"))
    with open(os.path.join(tmp, "manifests", "bench.yaml"), "w") as f:
        f.write("---\n".join(docs))
    return data


def zone_file(tmp, data, soa, ttl=5):
    """The same zone for Knot and NSD, with headless-dns's SOA."""
    lines = [
        f"$ORIGIN {ZONE}.",
        f"$TTL {ttl}",
        f"@ {ttl} IN SOA {soa}",
        f"@ {ttl} IN NS ns.dns.{ZONE}.",
        f"ns.dns {ttl} IN A 127.0.0.1",
        f'dns-version {ttl} IN TXT "1.1.0"',
    ]
    for svc, endpoints in data:
        weight = 10000 // len(endpoints)
        for host, ip in endpoints:
            lines.append(f"{svc}.{NS}.svc {ttl} IN A {ip}")
            lines.append(f"{host}.{svc}.{NS}.svc {ttl} IN A {ip}")
            lines.append(f"_web._tcp.{svc}.{NS}.svc {ttl} IN SRV 0 {weight} 80 {host}.{svc}.{NS}.svc.{ZONE}.")
    path = os.path.join(tmp, f"{ZONE}.zone")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def query_files(tmp, data):
    """Two mixes, as dnsperf query files."""
    pod_a = [f"{host}.{svc}.{NS}.svc.{ZONE} A" for svc, eps in data for host, _ in eps]
    svc_a = [f"{svc}.{NS}.svc.{ZONE} A" for svc, _ in data]
    srv = [f"_web._tcp.{svc}.{NS}.svc.{ZONE} SRV" for svc, _ in data]
    nx = [f"nx-{k}.{data[k % len(data)][0]}.{NS}.svc.{ZONE} A" for k in range(len(data))]
    mix = []
    # 70 % pod A, 15 % service A, 10 % SRV, 5 % NXDOMAIN, interleaved.
    for k in range(2000):
        r = k % 20
        if r < 14:
            mix.append(pod_a[k % len(pod_a)])
        elif r < 17:
            mix.append(svc_a[k % len(svc_a)])
        elif r < 19:
            mix.append(srv[k % len(srv)])
        else:
            mix.append(nx[k % len(nx)])
    files = {}
    for name, queries in [("pod-a", pod_a), ("mix", mix)]:
        path = os.path.join(tmp, f"{name}.queries")
        with open(path, "w") as f:
            f.write("\n".join(queries) + "\n")
        files[name] = (path, queries)
    return files


def cpu_seconds(pid):
    """CPU time of a process and all its descendants (NSD forks its servers
    from a child)."""
    ticks = os.sysconf(os.sysconf_names["SC_CLK_TCK"])
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    family, grew = {pid}, True
    while grew:
        grew = False
        for p, (ppid, _) in stats.items():
            if ppid in family and p not in family:
                family.add(p)
                grew = True
    return sum(stats[p][1] for p in family if p in stats) / ticks


def wait_port(port, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        out = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(port), "+time=1", "+tries=1", f"{ZONE}", "SOA", "+short"],
            capture_output=True, text=True,
        )
        lines = [l for l in out.stdout.splitlines() if l.strip() and not l.startswith(";")]
        if out.returncode == 0 and lines:
            return lines[0].strip()
        time.sleep(0.1)
    sys.exit(f"{what} did not answer on port {port}")


class Server:
    def __init__(self, name, argv, port, cwd=None):
        self.name, self.port = name, port
        self.log = open(os.path.join(tempfile.gettempdir(), f"bench-{name.replace('/', '-')}-{port}.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)
        self.soa = wait_port(port, self.proc, name)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_headless(binary, tmp, workers):
    port = free_port()
    cfg = os.path.join(tmp, f"headless-{workers}.yaml")
    with open(cfg, "w") as f:
        f.write(
            f"zone: {ZONE}\ndns:\n  listen: [\"127.0.0.1:{port}\"]\n  workers: {workers}\n"
            f"  nameserver_addresses: [127.0.0.1]\nadmin:\n  listen: \"127.0.0.1:0\"\n"
            f"source:\n  embedded:\n    manifests: [manifests]\n    watch: false\n"
        )
    return Server(f"headless-dns/{workers}t", [binary, "serve", "--config", cfg], port)


def start_knot(tmp, zonefile, workers):
    port = free_port()
    d = tempfile.mkdtemp(dir=tmp)
    cfg = os.path.join(d, "knot.conf")
    with open(cfg, "w") as f:
        f.write(
            f"server:\n  listen: 127.0.0.1@{port}\n  rundir: {d}\n  udp-workers: {workers}\n"
            f"  tcp-workers: {workers}\n  background-workers: 1\n"
            f"database:\n  storage: {d}\n"
            f"log:\n  - target: stderr\n    any: warning\n"
            f"zone:\n  - domain: {ZONE}\n    file: {zonefile}\n    zonefile-sync: -1\n    journal-content: none\n"
        )
    return Server(f"knot/{workers}t", ["knotd", "-c", cfg], port)


def start_nsd(tmp, zonefile, workers):
    port = free_port()
    d = tempfile.mkdtemp(dir=tmp)
    cfg = os.path.join(d, "nsd.conf")
    with open(cfg, "w") as f:
        f.write(
            f"server:\n  ip-address: 127.0.0.1@{port}\n  server-count: {workers}\n  username: \"\"\n"
            f"  zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n"
            f"  zonelistfile: \"{d}/zone.list\"\n  logfile: \"{d}/nsd.log\"\n  hide-version: yes\n"
            # Debian's NSD rate-limits by default and adds NS to positive
            # answers; neither is what is measured here.
            f"  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n  minimal-responses: yes\n"
            f"remote-control:\n  control-enable: no\n"
            f"zone:\n  name: {ZONE}\n  zonefile: \"{zonefile}\"\n"
        )
    return Server(f"nsd/{workers}t", ["nsd", "-d", "-c", cfg], port)


HEADER = re.compile(r"status: (\w+)")
FLAGS = re.compile(r";; flags: ([a-z ]*);")


def answers(port, queries, edns):
    """rcode, flags and sorted record lines (TTL dropped) per query, via dig -f.
    With `edns`, as dig asks by default (1232 bytes, no cookie); without, as
    dnsperf asks (plain 512-byte UDP, TC answers taken as they are)."""
    batch = tempfile.NamedTemporaryFile("w", delete=False)
    for q in queries:
        name, qtype = q.split()
        batch.write(f"{name} {qtype}\n")
    batch.close()
    out = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+nottlid", "+nocmd", "+noall", "+comments",
         "+answer", "+authority", "+additional", "+time=2"]
        + (["+nocookie"] if edns else ["+noedns", "+ignore"])
        + ["-f", batch.name],
        capture_output=True, text=True,
    ).stdout
    os.unlink(batch.name)
    blocks = out.split(";; Got answer:")[1:]
    result = []
    for block in blocks:
        status = HEADER.search(block)
        flags = FLAGS.search(block)
        records = sorted(
            " ".join(l.split()) for l in block.splitlines()
            if l and not l.startswith(";")
        )
        result.append((status.group(1) if status else "?", flags.group(1) if flags else "?", records))
    return result


def dnsperf(port, queries, seconds, tcp=False):
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries, "-l", str(seconds),
            "-c", "8", "-q", "200", "-S", "0"]
    if tcp:
        argv += ["-m", "tcp"]
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    def grab(label):
        m = re.search(label + r":\s+([0-9.]+)", out)
        return float(m.group(1)) if m else 0.0
    return grab("Queries completed"), grab("Queries per second"), grab("Average Latency \\(s\\)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/headless-dns"))
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--pods", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-tcp", action="store_true")
    args = ap.parse_args()

    missing = [t for t in ["dnsperf", "knotd", "dig"] if not shutil.which(t)]
    if missing:
        sys.exit(f"missing: {', '.join(missing)}\ninstall with: apt-get install knot dnsperf bind9-dnsutils (and nsd, optional)")
    if not os.path.exists(args.binary):
        sys.exit(f"no binary at {args.binary}: run cargo build --release first")
    have_nsd = shutil.which("nsd") is not None

    tmp = tempfile.mkdtemp(prefix="hdns-bench-")
    data = generate(tmp, args.services, args.pods)
    files = query_files(tmp, data)
    print(f"data set: {args.services} services x {args.pods} pods; {tmp}")

    rows = []
    for workers in [int(t) for t in args.threads.split(",")]:
        servers = [start_headless(args.binary, tmp, workers)]
        zonefile = zone_file(tmp, data, servers[0].soa)
        servers.append(start_knot(tmp, zonefile, workers))
        if have_nsd:
            try:
                servers.append(start_nsd(tmp, zonefile, workers))
            except SystemExit as e:
                print(f"nsd skipped: {e}")
        try:
            # 1. Identical answers for every distinct query of both mixes.
            distinct = sorted(set(files["pod-a"][1]) | set(files["mix"][1]))
            for edns in [False, True]:
                reference = answers(servers[1].port, distinct, edns)
                for s in servers[:1] + servers[2:]:
                    got = answers(s.port, distinct, edns)
                    # A difference is asked again of both, one question at a
                    # time: a dig timeout on a loaded machine is not an
                    # answer that differs.
                    for k, (a, b) in enumerate(zip(got, reference)):
                        if a != b:
                            got[k] = answers(s.port, [distinct[k]], edns)[0]
                            reference[k] = answers(servers[1].port, [distinct[k]], edns)[0]
                    same = sum(1 for a, b in zip(got, reference) if a == b)
                    how = "EDNS 1232" if edns else "no EDNS"
                    print(f"{s.name}: {same}/{len(distinct)} answers identical to {servers[1].name} ({how})")
                    for q, a, b in zip(distinct, got, reference):
                        if a != b:
                            print(f"  first difference: {q}\n    {s.name}: {a}\n    {servers[1].name}: {b}")
                            break
            # 2. Interleaved load.
            results = {}
            plan = [(mix, False) for mix in ["pod-a", "mix"]] + ([] if args.no_tcp else [("pod-a", True)])
            for r in range(args.rounds):
                for mix, tcp in plan:
                    for s in servers:
                        before = cpu_seconds(s.proc.pid)
                        done, qps, lat = dnsperf(s.port, files[mix][0], args.seconds, tcp)
                        cpu = cpu_seconds(s.proc.pid) - before
                        results.setdefault((mix, tcp, s.name), []).append(
                            (qps, lat, cpu / done * 1e6 if done else 0.0))
            for (mix, tcp, name), runs in results.items():
                qps = statistics.median(r[0] for r in runs)
                lat = statistics.median(r[1] for r in runs)
                cpu = statistics.median(r[2] for r in runs)
                rows.append((workers, mix + ("/tcp" if tcp else "/udp"), name, qps, lat, cpu))
        finally:
            for s in servers:
                s.stop()

    print()
    print(f"{'threads':>7} {'mix':<10} {'server':<18} {'QPS':>10} {'latency ms':>10} {'CPU µs/q':>9} {'QPS ratio':>9} {'CPU ratio':>9}")
    for workers, mix, name, qps, lat, cpu in rows:
        refs = [r for r in rows if r[0] == workers and r[1] == mix and not r[2].startswith("headless")]
        best_qps = max((r[3] for r in refs), default=0) or 1
        best_cpu = min((r[5] for r in refs), default=0) or 1
        print(f"{workers:>7} {mix:<10} {name:<18} {qps:>10.0f} {lat * 1000:>10.3f} {cpu:>9.2f} "
              f"{qps / best_qps:>9.2f} {cpu / best_cpu:>9.2f}")


if __name__ == "__main__":
    main()
