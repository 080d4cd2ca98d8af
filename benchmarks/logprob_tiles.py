"""The fast CPU LM-head path's tile size for a large vocabulary (Gemma 3: 262,144 x 640), timed (a benchmark).

    python benchmarks/logprob_tiles.py [--vocab 262144] [--dim 640] [--tokens 512] [--repeats 3]

`arabic_pref/fast_logprob.py` sizes each [tokens x vocab] fp32 logits tile in bytes: at least TILE_BYTES (16 MiB,
under glibc's 32 MiB mmap threshold) and at least HEAD_FRACTION of the head's own bytes. This times forward +
backward of one micro-batch's completion tokens (`--tokens`, e.g. 4 pairs x 2 sides x 64) at fixed tile sizes,
at the default rule, and TRL's own CPU kernel, on random weights of the real shapes (`--vocab`, `--dim`: Gemma 3
262144 x 640, Qwen2.5-0.5B 151936 x 896, the tiny default 151665 x 64).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from trl.kernels import ChunkedLogProbFunction

from arabic_pref import fast_logprob
from arabic_pref.fast_logprob import CpuLogProbFunction

MIBS = (4, 8, 16, 24, 48, 96, 192, 384, 768)


def timed(fn, hidden, weight, targets, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        h = hidden.clone().requires_grad_()
        start = time.perf_counter()
        out = fn.apply(h, weight, None, targets, 1.0, 4096, None, 1.0, ("log_probs",))
        out[0].sum().backward()
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=262_144)
    parser.add_argument("--dim", type=int, default=640)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    hidden = torch.randn(args.tokens, args.dim)
    weight = torch.randn(args.vocab, args.dim) * 0.03
    targets = torch.randint(0, args.vocab, (args.tokens,))
    result: dict = {"settings": vars(args), "threads": torch.get_num_threads(), "seconds": {}}
    default = fast_logprob.TILE_BYTES, fast_logprob.HEAD_FRACTION
    try:
        fast_logprob.HEAD_FRACTION = 0.0  # each size as given
        for mib in MIBS:
            fast_logprob.TILE_BYTES = mib * 2**20
            rows = fast_logprob._tiles(args.tokens, args.vocab, args.dim)[0].stop
            result["seconds"][f"ours_{mib}MiB_{rows}tokens"] = timed(
                CpuLogProbFunction, hidden, weight, targets, args.repeats
            )
            print(json.dumps(result["seconds"]), flush=True)
        fast_logprob.TILE_BYTES, fast_logprob.HEAD_FRACTION = default
        rows = fast_logprob._tiles(args.tokens, args.vocab, args.dim)[0].stop
        result["seconds"][f"ours_default_{rows}tokens"] = timed(
            CpuLogProbFunction, hidden, weight, targets, args.repeats
        )
    finally:
        fast_logprob.TILE_BYTES, fast_logprob.HEAD_FRACTION = default
    result["seconds"]["trl_kernel"] = timed(ChunkedLogProbFunction, hidden, weight, targets, args.repeats)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
