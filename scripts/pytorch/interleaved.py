"""Times ntng's `medium` step and the same step in PyTorch, interleaved, for scripts/pytorch-comparison.

Each round runs every configuration once (ntng: `ntng bench` per backend and precision; PyTorch:
eager fp32, torch.compile fp32, bf16 autocast), so machine noise hits all of them alike. Prints a
Markdown table: per configuration and thread count, the median over rounds of each round's median
step time, and the best round.
"""
import json, statistics, subprocess, sys

ntng, python, rounds, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
threads = [int(t) for t in sys.argv[5].split(",")]
here = __file__.rsplit("/", 1)[0]

configs = [
    ("ntng fp32 (OpenBLAS)", ["--backend", "openblas", "--precision", "fp32"]),
    ("ntng fp32 (oneDNN)", ["--backend", "onednn", "--precision", "fp32"]),
    ("ntng bf16 (oneDNN)", ["--backend", "onednn", "--precision", "bf16"]),
    ("PyTorch fp32 eager", "eager"),
    ("PyTorch fp32 torch.compile", "compile"),
    ("PyTorch bf16 autocast", "bf16"),
]


def run(config, t):
    if isinstance(config, list):
        out = subprocess.run([ntng, "bench", "--model", "medium", "--threads", str(t), "--steps", str(steps), "--json"] + config,
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["results"][0]["stepMillisecondsMedian"] / 1000
    out = subprocess.run([python, f"{here}/medium_step.py", "--mode", config, "--threads", str(t), "--steps", str(steps)],
                         check=True, capture_output=True, text=True).stdout
    return statistics.median(json.loads(out.strip().splitlines()[-1])["samples"])


times = {(name, t): [] for name, _ in configs for t in threads}
for r in range(rounds):
    for t in threads:
        for name, config in configs:
            times[(name, t)].append(run(config, t))
            print(f"round {r + 1}, {t} thread(s), {name}: {times[(name, t)][-1]:.3f} s/step", file=sys.stderr, flush=True)

print("| system | " + " | ".join(f"{t} thread(s): median / best round (s/step)" for t in threads) + " |")
print("|---|" + "---|" * len(threads))
for name, _ in configs:
    cells = [f"{statistics.median(times[(name, t)]):.3f} / {min(times[(name, t)]):.3f}" for t in threads]
    print(f"| {name} | " + " | ".join(cells) + " |")
