"""What the user types: the flags `judge` and `bench` share, `@file` texts, `--sample FILE.json`,
`--backend-option KEY=VALUE`. A bad input is an `InputError` naming the flag or file (exit 2)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from vrb_agent.errors import InputError

# Flags that `judge` and `bench` share, declared once.
BackendFlag = Annotated[
    str | None, typer.Option("--backend", "-b", envvar="VRB_BACKEND", help="Model backend (default: $VRB_BACKEND).")
]
ModelFlag = Annotated[str | None, typer.Option("--model", "-m", help="Model id (default: the backend's).")]
BaseUrlFlag = Annotated[str | None, typer.Option(help="API base URL (OpenAI-compatible servers).")]
BackendOptionFlag = Annotated[
    list[str] | None,
    typer.Option("--backend-option", "-O", metavar="KEY=VALUE", help="Backend option KEY=VALUE (repeatable)."),
]
MaxOutputTokensFlag = Annotated[
    int | None, typer.Option(min=16, help="Output-token budget of each model call (thinking models need thousands).")
]
MaxSideFlag = Annotated[int | None, typer.Option(min=64, help="Long side of the images sent, px (default 768).")]
MaxImagesFlag = Annotated[
    int | None, typer.Option(min=1, help="Images kept in the judge's context (visual memory window, default 48).")
]
SAMPLE_KEYS = ("question", "response_a", "response_b")
TEXT_FILE_LIMIT_MB = 4  # the largest @file or --sample file read (README); /dev/zero stops here


class ModeChoice(StrEnum):
    agentic = "agentic"
    single = "single"


class OrderChoice(StrEnum):
    fixed = "fixed"
    random = "random"
    both = "both"


class ProtocolChoice(StrEnum):
    vrb_agent = "vrb-agent"
    vlrb = "vlrb"
    videorewardbench = "videorewardbench"


ProtocolFlag = Annotated[
    ProtocolChoice,
    typer.Option(
        help="Judging protocol: vrb-agent (own prompts), vlrb (VL-RewardBench's official prompt, parsing, sampling "
        "and vote), videorewardbench (the paper's published setup). See README, 'Reproducing published numbers'."
    ),
]
TopPFlag = Annotated[
    float | None,
    typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling (default: the protocol's, else the provider's)."),
]


def budget_knobs(max_output_tokens: int | None, max_side: int | None, max_images: int | None) -> dict[str, int]:
    """The token/image budget flags that were given, as JudgeConfig fields."""
    given = {"max_output_tokens": max_output_tokens, "max_side": max_side, "max_images": max_images}
    return {k: v for k, v in given.items() if v is not None}


def sampling_option(backend: str, temperature: float | None, options: dict[str, Any]) -> None:
    """A local Qwen judge samples as its checkpoint's generation_config says unless --temperature is given."""
    if backend == "qwen" and temperature is not None:
        options.setdefault("sampling", "request")


def checked_text(text: str, where: str) -> str:
    """`text` if it encodes as UTF-8; lone surrogates (undecodable bytes in argv, `\\ud800` in
    JSON) would fail only later, inside a provider's request."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{where}: not valid Unicode text (character {exc.start}); give UTF-8 text") from None
    return text


def read_user_text(path: Path, where: str) -> str:
    """A text file the user named: UTF-8 (a leading BOM is dropped), at most TEXT_FILE_LIMIT_MB;
    anything else is a usage error naming the file and what to do."""
    limit = TEXT_FILE_LIMIT_MB * 1024 * 1024
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL or a lone surrogate in the path
        reason = getattr(exc, "strerror", None) or exc
        raise InputError(f"{where}: cannot read {path!s:.200} ({reason})") from None
    if len(data) > limit:
        raise InputError(f"{where}: {path} is over {TEXT_FILE_LIMIT_MB} MB, the limit for a text input; shorten it")
    try:
        return checked_text(data.decode("utf-8-sig"), where)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{where}: {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"convert it, e.g. iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8{path.suffix}"
        ) from None


def read_text_arg(value: str, flag: str) -> str:
    """`@path` reads the text from a file (`@@` escapes a literal leading @)."""
    if value.startswith("@@"):
        return checked_text(value[1:], flag)
    if not value.startswith("@"):
        return checked_text(value, flag)
    return read_user_text(Path(value[1:]).expanduser(), f"{flag} {value}")


def read_sample_file(path: Path) -> dict[str, str]:
    """`--sample FILE.json`: question, response_a, response_b and optionally media (relative to the file)."""
    where = f"--sample {path}"
    try:
        data = json.loads(read_user_text(path, where))
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply; expected a flat object") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object with keys {', '.join(SAMPLE_KEYS)} and media")
    sample: dict[str, str] = {}
    for key in (*SAMPLE_KEYS, "media"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InputError(f"{where}: {key} must be a string, got {type(value).__name__}")
        sample[key] = checked_text(value, f"{where}: {key}")
    if "media" in sample:
        if "\x00" in sample["media"]:
            raise InputError(f"{where}: media holds a NUL character; give a file path")
        sample["media"] = str((path.parent / sample["media"]).resolve())
    return sample


def parse_backend_options(pairs: list[str]) -> dict[str, Any]:
    """`--backend-option KEY=VALUE` pairs; values are JSON when they parse (numbers, booleans), else text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--backend-option {pair!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def pair_inputs(sample: Path | None, flags: dict[str, str | None]) -> dict[str, str]:
    """MEDIA and the three texts from flags, falling back to --sample; `@file` texts are read."""
    values = {**(read_sample_file(sample) if sample else {}), **{k: v for k, v in flags.items() if v is not None}}
    missing = [("MEDIA" if key == "media" else f"--{key.replace('_', '-')}") for key in flags if key not in values]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (give them as arguments or in --sample FILE.json)")
    texts = {key: read_text_arg(values[key], f"--{key.replace('_', '-')}") for key in SAMPLE_KEYS}
    return {"media": values["media"], **texts}


def checked_backend_name(backend: str | None) -> str:
    """The --backend given, known to the registry."""
    from vrb_agent.judges.registry import backend_names  # noqa: PLC0415

    if not backend:
        raise InputError(f"no --backend given and VRB_BACKEND is not set; choose one of: {', '.join(backend_names())}")
    if backend not in backend_names():
        raise InputError(f"unknown --backend {backend!r}; choose one of: {', '.join(backend_names())}")
    return backend
