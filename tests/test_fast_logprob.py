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


def test_install_is_reversible_and_only_routes_cpu():
    import trl.trainer.utils as trl_utils

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
