"""benchmarks/gpu_bench.py: its FLOP arithmetic (model-free) and a clean refusal without a GPU."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from tests.conftest import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "benchmarks" / "gpu_bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_parameter_counts_match_the_published_qwen25_sizes():
    bench = _bench()
    half = bench.qwen2_params(**bench.SHAPES["0.5b"])
    # Qwen2.5-0.5B: 0.49B parameters in all (tied embedding counted once), 0.36B without the embedding
    assert half["layers"] + half["embedding"] == pytest.approx(494_032_768, rel=2e-3)
    assert half["layers"] == pytest.approx(357_898_240, rel=2e-3)
    seven = bench.qwen2_params(**bench.SHAPES["7b"])
    # Qwen2.5-7B: 7.61B in all (untied: embedding and LM head), 6.53B without them
    assert seven["layers"] + 2 * seven["embedding"] == pytest.approx(7_615_616_512, rel=2e-3)


def test_flops_per_step_are_4n_per_policy_token_and_2n_per_reference_token():
    bench = _bench()
    n = 1_000_000
    assert bench.step_flops(n, policy_tokens=10, reference_tokens=0) == 40 * n
    assert bench.step_flops(n, policy_tokens=10, reference_tokens=10) == 60 * n
    # 0.5B shape, 16 pairs of 384 + 128 tokens: 16 384 tokens, 4 x N each, in 1 s of an H100 -> MFU
    tokens = 2 * 16 * (384 + 128)
    total = bench.qwen2_params(**bench.SHAPES["0.5b"])["total_matmul"]
    assert bench.mfu(bench.step_flops(total, tokens, 0), 1.0, 989e12) == pytest.approx(4 * total * tokens / 989e12)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_refuses_cleanly_without_a_gpu(capsys):
    assert _bench().main([]) == 2
    assert "no CUDA GPU" in capsys.readouterr().out
