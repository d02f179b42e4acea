"""scripts/bench --regimes: the upstream regimes a user meets, each with the service, nginx and
HAProxy in front of the same stand-in, in one run (docs/benchmarks.md "Regimes" has the method)."""
import json
import os

# name -> (stand-in environment, corrupt share p or None)
REGIMES = {
    "fixed sound documents": ({"CORRUPT_RATE": "0"}, None),
    "latency 1 ms": ({"FAULT_LATENCY_MS": "1", "CORRUPT_RATE": "0"}, None),
    "latency 10 ms": ({"FAULT_LATENCY_MS": "10", "CORRUPT_RATE": "0"}, None),
    "latency 50 ms": ({"FAULT_LATENCY_MS": "50", "CORRUPT_RATE": "0"}, None),
    "latency 200 ms": ({"FAULT_LATENCY_MS": "200", "CORRUPT_RATE": "0"}, None),
    "real mix (10% corrupt)": ({"CORRUPT_RATE": "0.1"}, 0.1),
    "corrupt 30%": ({"CORRUPT_RATE": "0.3"}, 0.3),
    "corrupt 50%": ({"CORRUPT_RATE": "0.5"}, 0.5),
    "corrupt 70%": ({"CORRUPT_RATE": "0.7"}, 0.7),
    "corrupt 90%": ({"CORRUPT_RATE": "0.9"}, 0.9),
    "bombs half the time": ({"BOMB_RATE": "0.5", "CORRUPT_RATE": "0"}, None),
}


def served_sound(label, result, p):
    """Share of requests answered with a sound document. The service answers 200 only with one;
    a plain proxy passes the corrupt share on, so its expected sound share is its 200s x (1 - p)."""
    ok = 1.0 - result["non_2xx"] / max(result["requests"], 1)
    return ok if label.startswith("document-proxy") else ok * (1.0 - (p or 0.0))


def row(regime, connections, label, r, p):
    cpu = r["user_us_per_request"] + r["system_us_per_request"]
    errors = r["non_2xx"] + (1 if r["socket_errors"] else 0)
    served = f"{served_sound(label, r, p):.3f}" if p is not None else "–"
    load = f"{r['upstream_per_request']:.2f}" if p is not None else "–"
    return (f"| {regime} | {connections} | {label} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f}"
            f" | {r['non_2xx']}{f' ({statuses})' if (statuses := r['non_2xx_statuses']) else ''}"
            f"{' + socket errors' if r['socket_errors'] else ''} | {r['peak_rss_mib']:.1f}"
            f" | {cpu:.0f} | {served} | {load} |"), errors


def run(args, workdir, baselines, run_case, results_dir):
    args.direct = False
    counts = [int(c) for c in args.connections_list.split(",") if c]
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in REGIMES]
    if unknown:
        raise SystemExit(f"scripts/bench: --only {','.join(unknown)}: not a regime; one of: {', '.join(REGIMES)}")
    print(f"wrk -t{args.threads} -d{args.duration}s --timeout 5s, random ids, on {os.cpu_count()} cores,"
          f" median of {args.rounds} round(s); CPU is user+system µs per request of the proxy's processes")
    print("\n| regime | conns | target | req/s | p50 ms | p99 ms | non-2xx | peak RSS MiB | CPU µs/req"
          " | served sound | upstream req/req |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for name, (env, p) in REGIMES.items():
        if wanted and name not in wanted:
            continue
        for connections in counts:
            args.connections = connections
            results = run_case(name.split()[0] + str(connections), env, args, workdir, baselines)
            summary[f"{name} @ {connections}"] = results
            for label, r in results.items():
                print(row(name, connections, label, r, p)[0], flush=True)
            proxy = results["document-proxy"]
            better = [results[b] for b in ("nginx proxy_pass", "haproxy") if b in results]
            if better:
                best = max(better, key=lambda r: r["rps"])
                summary[f"{name} @ {connections}"]["ratio_to_best"] = {
                    "throughput": proxy["rps"] / best["rps"], "p99": proxy["p99_ms"] / best["p99_ms"]}
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "regimes.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("\nratios to the faster of nginx and HAProxy (throughput, p99):")
    for key, results in summary.items():
        ratio = results.get("ratio_to_best")
        if ratio:
            print(f"  {key}: {ratio['throughput']:.2f}x, p99 {ratio['p99']:.2f}x")
