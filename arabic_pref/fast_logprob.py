"""A fast CPU path for TRL's fused LM-head log-probabilities.

With Qwen's 151,665-token vocabulary, TRL 1.16's CPU fallback of its fused LM head (`trl/kernels/
chunked_logprob.py`) folds each [4096 x 32768] logits tile through a dozen elementwise torch ops, and on CPU
it scores every position (prompt and padding included). On a tiny model that is ~95% of a DPO step. Here, on
CPU only, we score just the completion positions and compute each token chunk's logits with one matmul and
one pass for max, exp and sum (the softmax and log-sum-exp share it); when a gradient will follow, the chunk's
softmax is kept so the backward is just `grad = g * (onehot - softmax)` and two small matmuls (memory: N x V
floats for the N completion tokens of one micro-batch, which is small for the short sequences CPU runs use).
Values and gradients match TRL's kernel (tests/test_fast_logprob.py).

Tiles are sized in bytes, not tokens, and grow with the LM head (`_tiles`). Two costs pull apart:
- glibc serves an allocation above its mmap threshold (at most 32 MiB) with fresh pages that the kernel maps and
  zeroes on first touch, so on the tiny default (a 39 MB head) a 256-token tile of Qwen's vocabulary (155 MB) paid
  page faults on every chunk: tiles of at least `TILE_BYTES` (16 MiB) that stay small reuse the heap (1.6x faster).
- every tile streams the whole head's weight through the cache. A real model's head is 545 MB (Qwen2.5-0.5B) to
  671 MB (Gemma 3, 262,144 x 640), so with 16 MiB tiles (16 Gemma tokens) that read dominates and the path was
  slower than TRL's kernel. A tile of half the head's bytes amortises it: on 512 tokens, 2 threads, Gemma's head
  7.2 s -> 2.9 s (TRL 3.8 s), Qwen2.5-0.5B's 4.3 s -> 1.9-2.1 s (TRL 3.4 s); larger tiles gain under 10%
  (`benchmarks/logprob_tiles.py`, BENCHMARKS.md).

`install()` swaps the function TRL's `add_fused_lm_head` calls; GPU and other devices keep TRL's own kernels.
The extra outputs TRL logs (entropy, mean logit, top-1, log-sum-sq-probs) are returned without gradient:
DPO uses them only as metrics.
"""

from __future__ import annotations

import torch

TILE_BYTES = 16 * 2**20  # the smallest [tokens x vocab] fp32 logits tile; under glibc's 32 MiB mmap threshold
HEAD_FRACTION = 0.5  # a tile holds at least this share of the LM head's fp32 bytes (see above)
_originals: dict = {}


def _logits(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale: float,
    softcap: float | None,
    inv_t: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transformed logits and d(logits)/d(raw logits) as a scalar or tensor."""
    z = hidden.float() @ weight.float().t()
    if bias is not None:
        z += bias.float()
    if scale != 1.0:
        z *= scale
    if softcap:
        t = torch.tanh(z / softcap)
        return softcap * t * inv_t, (1 - t * t) * (scale * inv_t)
    if inv_t != 1.0:
        z *= inv_t
    return z, torch.tensor(scale * inv_t)


def _tiles(n_tokens: int, vocab: int, dim: int) -> list[slice]:
    """Token slices whose fp32 logits tile holds max(TILE_BYTES, HEAD_FRACTION x the head's bytes)."""
    tile_bytes = max(TILE_BYTES, int(HEAD_FRACTION * 4 * vocab * dim))
    rows = max(1, tile_bytes // (4 * vocab))
    return [slice(start, start + rows) for start in range(0, n_tokens, rows)]


class CpuLogProbFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, temperature, chunk_size, softcap, logit_scale, outputs):
        # Always fp32, also under autocast: a bf16 matmul and logsumexp round a sequence log-prob of ~-477 to whole
        # nats, which flips per-pair preferences. The logits of a CPU-sized batch are cheap in fp32.
        with torch.autocast(hidden.device.type, enabled=False):
            return CpuLogProbFunction._forward(
                ctx, hidden, weight, bias, targets, temperature, softcap, logit_scale, outputs
            )

    @staticmethod
    def _forward(ctx, hidden, weight, bias, targets, temperature, softcap, logit_scale, outputs):
        ctx.set_materialize_grads(False)
        inv_t = 1.0 / temperature
        # With a gradient to come, keep each chunk's softmax (N x V floats): the backward then needs two small
        # matmuls instead of recomputing the logits. Without one (reference and eval passes) keep nothing.
        keep_probs = any(ctx.needs_input_grad[:3])
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("lp", "p", "dz", "ent", "sq", "mean", "top1")}
        need_p = keep_probs or "entropy" in outputs
        with torch.no_grad():
            for sl in _tiles(hidden.shape[0], weight.shape[0], weight.shape[1]):
                z, dz = _logits(hidden[sl], weight, bias, logit_scale, softcap, inv_t)
                top, top_index = z.max(dim=-1)
                p = torch.sub(z, top[:, None]).exp_()  # unnormalised softmax, shared with the log-sum-exp
                total = p.sum(dim=-1)
                lse = top + total.log()
                tgt = targets[sl]
                parts["lp"].append(z.gather(1, tgt[:, None]).squeeze(1) - lse)
                p = p.div_(total[:, None]) if need_p else None
                if keep_probs:
                    parts["p"].append(p)
                    parts["dz"].append(dz)
                if "entropy" in outputs:
                    parts["ent"].append(lse - torch.bmm(p.unsqueeze(1), z.unsqueeze(2)).view(-1))
                if "log_sum_sq_probs" in outputs:
                    parts["sq"].append(torch.logsumexp(2 * (z - lse[:, None]), dim=-1))
                if "mean_logits" in outputs:
                    parts["mean"].append(z.mean(-1))
                if "is_top1" in outputs:
                    parts["top1"].append(top_index == tgt)

        def cat(key: str, wanted: str | None) -> torch.Tensor | None:
            if wanted is not None and wanted not in outputs:
                return None
            if parts[key]:
                return torch.cat(parts[key])
            # No completion token in this micro-batch: a fresh empty tensor per output, so that marking the metric
            # outputs non-differentiable leaves the log-probs differentiable (TRL then scatters them into zeros).
            return hidden.new_zeros(0, dtype=torch.bool if key == "top1" else torch.float32)

        logprobs = cat("lp", None)
        extras = (
            cat("ent", "entropy"),
            cat("sq", "log_sum_sq_probs"),
            cat("mean", "mean_logits"),
            cat("top1", "is_top1"),
        )
        ctx.save_for_backward(hidden, weight, bias, targets)
        ctx.probs, ctx.dz = parts["p"], parts["dz"]
        ctx.mark_non_differentiable(*(x for x in extras if x is not None))
        return (logprobs, *extras)

    @staticmethod
    def backward(ctx, grad_logprobs, *_):
        with torch.autocast(ctx.saved_tensors[0].device.type, enabled=False):
            return CpuLogProbFunction._backward(ctx, grad_logprobs)

    @staticmethod
    def _backward(ctx, grad_logprobs):
        hidden, weight, bias, targets = ctx.saved_tensors
        if grad_logprobs is None:
            return (None,) * 9
        grad_hidden = torch.zeros_like(hidden, dtype=torch.float32)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if ctx.needs_input_grad[1] else None
        grad_bias = (
            torch.zeros_like(bias, dtype=torch.float32) if bias is not None and ctx.needs_input_grad[2] else None
        )
        for i, sl in enumerate(_tiles(hidden.shape[0], weight.shape[0], weight.shape[1])):
            g = grad_logprobs[sl].float()
            # d logp_target / dz = onehot(target) - softmax(z)
            grad_z = ctx.probs[i].mul_(-g[:, None])  # in place: the kept softmax is not needed after this
            grad_z.scatter_add_(1, targets[sl, None], g[:, None])
            dz = ctx.dz[i]
            if dz.numel() > 1 or dz.item() != 1.0:
                grad_z *= dz
            grad_hidden[sl] = grad_z @ weight.float()
            if grad_weight is not None:
                grad_weight.addmm_(grad_z.t(), hidden[sl].float())
            if grad_bias is not None:
                grad_bias += grad_z.sum(0)
        ctx.probs = ctx.dz = None
        return (
            grad_hidden.to(hidden.dtype),
            None if grad_weight is None else grad_weight.to(weight.dtype),
            None if grad_bias is None else grad_bias.to(bias.dtype),
            None,
            None,
            None,
            None,
            None,
            None,
        )


class _Dispatch:
    """Stands in for TRL's ChunkedLogProbFunction: CPU tensors take our path, others TRL's kernel."""

    def __init__(self, trl_function: type):
        self.trl_function = trl_function

    def apply(self, hidden: torch.Tensor, *args):
        fn = CpuLogProbFunction if hidden.device.type == "cpu" else self.trl_function
        return fn.apply(hidden, *args)


def install() -> None:
    """Route TRL's fused LM head through the fast CPU path (idempotent)."""
    from arabic_pref.upstream import set_trl_logprob_seam, trl_logprob_seam

    if _originals:
        return
    function, use_triton = trl_logprob_seam()
    _originals.update(function=function, use_triton=use_triton)
    # "compact" = score only the positions that have a label; TRL enables it for Triton devices only.
    set_trl_logprob_seam(_Dispatch(function), lambda device: use_triton(device) or device.type == "cpu")


def uninstall() -> None:
    """Restore TRL's own kernels (for comparisons in one process)."""
    from arabic_pref.upstream import set_trl_logprob_seam

    if _originals:
        set_trl_logprob_seam(_originals.pop("function"), _originals.pop("use_triton"))


def installed() -> bool:
    return bool(_originals)
