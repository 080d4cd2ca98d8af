"""The fast CPU LM-head path must give TRL's values and gradients (TRL's kernel is the oracle)."""

import pytest
import torch
from trl.kernels import ChunkedLogProbFunction

from arabic_pref import fast_logprob
from arabic_pref.fast_logprob import CpuLogProbFunction

OUTPUTS = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def _run(fn, hidden, weight, bias, targets, temperature, softcap, scale):
    hidden = hidden.clone().requires_grad_()
    weight = weight.clone().requires_grad_()
    bias = None if bias is None else bias.clone().requires_grad_()
    out = fn.apply(hidden, weight, bias, targets, temperature, 4096, softcap, scale, OUTPUTS)
    (out[0] * torch.linspace(-1, 1, out[0].numel())).sum().backward()
    grads = [hidden.grad, weight.grad] + ([] if bias is None else [bias.grad])
    return [o.detach() for o in out], grads


@pytest.mark.parametrize(
    ("temperature", "softcap", "scale", "with_bias", "n_tokens"),
    [(1.0, None, 1.0, False, 300), (0.7, None, 1.0, True, 17), (1.0, 30.0, 0.5, False, 513)],
)
def test_matches_trl_kernel(temperature, softcap, scale, with_bias, n_tokens):
    torch.manual_seed(0)
    vocab, dim = 5003, 32
    hidden = torch.randn(n_tokens, dim)
    weight = torch.randn(vocab, dim) * 0.3
    bias = torch.randn(vocab) * 0.1 if with_bias else None
    targets = torch.randint(0, vocab, (n_tokens,))
    ours, our_grads = _run(CpuLogProbFunction, hidden, weight, bias, targets, temperature, softcap, scale)
    ref, ref_grads = _run(ChunkedLogProbFunction, hidden, weight, bias, targets, temperature, softcap, scale)
    for a, b in zip(ours, ref, strict=True):
        if a.dtype == torch.bool:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    for a, b in zip(our_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_several_tiles_match_trl_kernel(monkeypatch):
    """Tiles of 64 tokens (the last one partial): the per-tile softmax kept for the backward lines up."""
    torch.manual_seed(1)
    vocab, dim, n_tokens = 5003, 32, 300
    monkeypatch.setattr(fast_logprob, "TILE_BYTES", 64 * vocab * 4)
    assert len(fast_logprob._tiles(n_tokens, vocab, dim)) == 5
    hidden, weight = torch.randn(n_tokens, dim), torch.randn(vocab, dim) * 0.3
    targets = torch.randint(0, vocab, (n_tokens,))
    ours, our_grads = _run(CpuLogProbFunction, hidden, weight, None, targets, 1.0, None, 1.0)
    ref, ref_grads = _run(ChunkedLogProbFunction, hidden, weight, None, targets, 1.0, None, 1.0)
    for a, b in zip(ours + our_grads, ref + ref_grads, strict=True):
        assert torch.equal(a, b) if a.dtype == torch.bool else torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_tiles_stay_under_the_mmap_threshold_on_a_small_head_and_grow_with_a_large_one():
    # the tiny default (151,665 x 64, a 39 MB head): half its bytes is 32 tokens a tile, under glibc's 32 MiB
    # threshold; a smaller head still gets TILE_BYTES (27 tokens of this vocabulary)
    tiles = fast_logprob._tiles(1000, 151_665, 64)
    assert {t.stop - t.start for t in tiles[:-1]} == {32} and 32 * 151_665 * 4 < 32 * 2**20
    assert fast_logprob._tiles(1000, 151_665, 16)[0] == slice(0, 27) and fast_logprob.TILE_BYTES < 32 * 2**20
    assert [i for t in tiles for i in range(1000)[t]] == list(range(1000))
    # a real head streams hundreds of MB a tile: half its bytes a tile, i.e. dim / 2 tokens (Gemma 3: 320 of 640;
    # Qwen2.5-0.5B: 448 of 896)
    assert fast_logprob._tiles(1000, 262_144, 640)[0] == slice(0, 320)
    assert fast_logprob._tiles(1000, 151_936, 896)[0] == slice(0, 448)
    assert fast_logprob._tiles(3, 10**9, 1) == [slice(0, 1), slice(1, 2), slice(2, 3)]  # at least one token a tile


def test_install_is_reversible_and_only_routes_cpu():
    import trl.trainer.utils as trl_utils

    fast_logprob.uninstall()  # an earlier in-process run may have installed it (it is process-wide)
    original = trl_utils._ChunkedLogProbFunction
    fast_logprob.install()
    try:
        assert fast_logprob.installed()
        assert trl_utils._use_triton(torch.device("cpu"))  # compact scoring on CPU
        assert trl_utils._ChunkedLogProbFunction.trl_function is original
    finally:
        fast_logprob.uninstall()
    assert trl_utils._ChunkedLogProbFunction is original
    assert not trl_utils._use_triton(torch.device("cpu"))


def test_fp32_under_cpu_autocast():
    """Under bf16 autocast the log-probs must still be fp32-exact (bf16 rounds -477.06 to -478)."""
    torch.manual_seed(1)
    vocab, dim, n = 5003, 64, 200
    hidden = torch.randn(n, dim) * 4
    weight = torch.randn(vocab, dim)
    targets = torch.randint(0, vocab, (n,))
    exact = CpuLogProbFunction.apply(hidden, weight, None, targets, 1.0, 4096, None, 1.0, ("log_probs",))[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = CpuLogProbFunction.apply(hidden, weight, None, targets, 1.0, 4096, None, 1.0, ("log_probs",))[0]
        h = hidden.clone().requires_grad_()
        out = CpuLogProbFunction.apply(h, weight, None, targets, 1.0, 4096, None, 1.0, ("log_probs",))[0]
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, exact, rtol=0, atol=1e-4)
    # sequence sums (what DPO compares) agree to far below a nat
    assert abs(ours.sum().item() - exact.sum().item()) < 1e-2
    out.sum().backward()
    h_ref = hidden.clone().requires_grad_()
    CpuLogProbFunction.apply(h_ref, weight, None, targets, 1.0, 4096, None, 1.0, ("log_probs",))[0].sum().backward()
    torch.testing.assert_close(h.grad, h_ref.grad, rtol=1e-4, atol=1e-5)


def test_micro_batch_without_completion_tokens_backpropagates():
    """No completion position at all: like TRL's kernel, a differentiable empty result, and backward works."""
    from trl.trainer.utils import _ChunkedLogProbFunction  # noqa: F401  (the seam must exist)

    weight = torch.randn(101, 8, requires_grad=True)
    hidden = torch.randn(0, 8, requires_grad=True)
    targets = torch.zeros(0, dtype=torch.long)
    out = CpuLogProbFunction.apply(hidden, weight, None, targets, 1.0, 4096, None, 1.0, OUTPUTS)
    assert out[0].shape == (0,) and out[0].requires_grad
    # what TRL does with compact outputs: scatter into a zero tensor of the batch's shape
    mask = torch.zeros(2, 5, dtype=torch.bool)
    per_token = out[0].new_zeros(mask.shape).masked_scatter(mask, out[0])
    (per_token.sum() + (weight * 0).sum()).backward()
    assert weight.grad is not None and torch.count_nonzero(weight.grad) == 0
