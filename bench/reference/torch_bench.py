"""PyTorch and numpy (OpenBLAS) side of bench/compare-pytorch.sh.

Runs, at one thread count (set OPENBLAS_NUM_THREADS and OMP_NUM_THREADS to the same value before
starting Python; this script sets torch.set_num_threads), the training configurations of
`Unroll.Bench lstm-512 | lstm-256 | gru-512 | rnn-128` and numpy's SGEMM on the shapes of
`Unroll.Bench gemm`, timed the same way, and prints one whitespace-separated line per measurement:

    train SUITE THREADS BEST_MS MEDIAN_MS CHARS_PER_S BEST_CPU_MS
    gemm LAYOUT M N K THREADS GFLOPS

usage: /usr/bin/python3 bench/reference/torch_bench.py THREADS SECONDS [SUITE...]
"""
import os
import sys
import time

import numpy as np
import torch

EMBEDDING = 64  # the same embedding width as TrainBenchmark.EmbeddingSize
CONFIGS = {
    "lstm-512": ("lstm", 512, 64, 32, 65),
    "lstm-256": ("lstm", 256, 100, 64, 65),
    "gru-512": ("gru", 512, 64, 32, 65),
    "rnn-128": ("rnn", 128, 200, 32, 0),
}
# m, n, k, transA, transB as in GemmBenchmark.Shapes (C is m x n, k the inner dimension).
GEMM_SHAPES = [
    (1024, 1024, 1024, "N", "N"),
    (32, 2048, 512, "N", "N"),
    (32, 2048, 512, "N", "T"),
    (2048, 2048, 512, "N", "N"),
    (2048, 512, 2048, "T", "N"),
]


class CharModel(torch.nn.Module):
    def __init__(self, cell, hidden, vocabulary):
        super().__init__()
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
        self.dense = vocabulary == 0
        inputs = 1 if self.dense else EMBEDDING
        self.embedding = None if self.dense else torch.nn.Embedding(vocabulary, EMBEDDING)
        self.rnn = rnn(inputs, hidden)  # time-major [T, B, I], as Unroll
        self.head = torch.nn.Linear(hidden, 1 if self.dense else vocabulary)

    def forward(self, x):
        h, _ = self.rnn(x if self.dense else self.embedding(x))
        return self.head(h)


def time_steps(step, seconds):
    for _ in range(3):
        step()
    times, cpu, start = [], [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t, c = time.perf_counter(), time.process_time()
        step()
        cpu.append(time.process_time() - c)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[0], times[len(times) // 2], min(cpu)


def train(suite, threads, seconds):
    cell, hidden, steps, batch, vocabulary = CONFIGS[suite]
    torch.manual_seed(1)
    model = CharModel(cell, hidden, vocabulary)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    if vocabulary:
        x = torch.randint(0, vocabulary, (steps, batch))
        y = torch.randint(0, vocabulary, (steps * batch,))
        loss_fn = lambda out: torch.nn.functional.cross_entropy(out.reshape(-1, vocabulary), y)
    else:
        r = torch.arange(steps * batch, dtype=torch.float32)
        x = torch.sin(r * 0.01).reshape(steps, batch, 1)
        y = torch.cos(r * 0.01).reshape(steps, batch, 1)
        loss_fn = lambda out: torch.nn.functional.mse_loss(out, y)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    best, median, cpu = time_steps(step, seconds)
    rows = steps * batch
    print(f"train {suite} {threads} {best * 1e3:.2f} {median * 1e3:.2f} {rows / best:.0f} {cpu * 1e3:.2f}", flush=True)


def gemm(threads):
    rng = np.random.default_rng(1)
    for m, n, k, ta, tb in GEMM_SHAPES:
        a = rng.uniform(-1, 1, (m, k) if ta == "N" else (k, m)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n) if tb == "N" else (n, k)).astype(np.float32)
        op_a = a if ta == "N" else a.T  # a view: BLAS gets a transpose flag, not a copy
        op_b = b if tb == "N" else b.T
        c = np.empty((m, n), np.float32)
        run = lambda: np.dot(op_a, op_b, out=c)
        run()
        best, start, runs = float("inf"), time.perf_counter(), 0
        while runs < 5 or time.perf_counter() - start < 1.0:
            t = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - t)
            runs += 1
        print(f"gemm {ta}{tb} {m} {n} {k} {threads} {2.0 * m * n * k / best / 1e9:.1f}", flush=True)


def main():
    threads, seconds = int(sys.argv[1]), float(sys.argv[2])
    suites = sys.argv[3:] or ["gemm", *CONFIGS]
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(name) != str(threads):
            sys.exit(f"error: set {name}={threads} before starting Python (got {os.environ.get(name)})")
    torch.set_num_threads(threads)
    for suite in suites:
        if suite == "gemm":
            gemm(threads)
        else:
            train(suite, threads, seconds)


if __name__ == "__main__":
    main()
