"""Local Qwen2.5-VL / Qwen3-VL judges run in-process through Hugging Face transformers (extra `[qwen]`).

The same tools and verdict contract as the API backends, so an open judge is one flag away from a
proprietary one. The model is loaded once per process (`qwen_loading`) and shared by concurrent
judgments: generation is serialised by a lock and runs in a worker thread so the event loop stays
free. Tools go in through the chat template's `tools=` (`qwen_chat` builds the messages); replies
are parsed for hermes-style `<tool_call>` blocks. `n` samples come from one `generate` call.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from vrb_agent.judges.base import (
    Backend,
    BackendError,
    Capabilities,
    ConfigError,
    ModelReply,
    ModelRequest,
    StopReason,
    Usage,
    check_options,
    choice_option,
    flag,
    typed_option,
)
from vrb_agent.judges.budget import ContextOverflowError, Fit, fit_to_context
from vrb_agent.judges.hermes import parse_hermes_tool_calls
from vrb_agent.judges.qwen_chat import QWEN3_VIDEO_SLOT, ChatBuilder, ChatInputs, vision_rules
from vrb_agent.judges.qwen_loading import LoadedQwen, first_line, load_qwen, prepare_loaded
from vrb_agent.judges.thinking import prompt_opens_thinking, split_thinking, unfinished_message

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
OPTIONS = (
    "model",
    "device",
    "dtype",
    "native_video",
    "max_images",
    "sampling",
    "max_model_len",
    "min_pixels",
    "max_pixels",
)
SAMPLING = ("auto", "request")


class QwenBackend(Backend):
    """Qwen2.5-VL / Qwen3-VL via transformers, in this process.

    Thinking checkpoints (whose template opens `<think>` in the prompt) are read through
    `split_thinking`: a reply cut off inside its reasoning is `unfinished`, never an answer. Before
    generating, the request is fitted to the model's context (`max_model_len`, else the config's
    `max_position_embeddings`) with the processor's own resize rules. Sampling: `auto` samples with
    the request's temperature when it is above 0 and otherwise with the checkpoint's
    generation_config (greedy when it does not sample); `request` always uses the request's
    temperature (0 = greedy), as the CLI does when --temperature is given. A request's top_p applies
    whenever it samples (greedy decoding has no nucleus to cut).
    """

    name = "qwen"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        dtype: str | None = None,
        native_video: bool = False,
        max_images: int = 64,
        sampling: str = "auto",
        max_model_len: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        loaded: LoadedQwen | None = None,
        generation_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model)
        self.loaded = loaded or load_qwen(model, device, dtype)
        self.native_video = native_video
        self.max_images = max_images
        self.sampling = choice_option(self.name, "sampling", sampling, SAMPLING, "auto")
        self.context, self.context_source = self._context_length(max_model_len)
        self.rules = vision_rules(self.loaded.processor, min_pixels, max_pixels)
        # Extra `generate` arguments (repetition_penalty, min_new_tokens, ...), applied last.
        self.generation_kwargs = dict(generation_kwargs or {})

    @classmethod
    def from_options(cls, **options: Any) -> QwenBackend:
        """Build from `get_backend("qwen", ...)` / `--backend-option KEY=VALUE`; a typo is a ConfigError.
        Device and dtype fall back to `VRB_QWEN_DEVICE` / `VRB_QWEN_DTYPE`, then to automatic."""
        given = check_options(cls.name, options, OPTIONS)
        numbers: dict[str, Any] = {
            key: typed_option(cls.name, key, given.get(key), int, None)
            for key in ("max_model_len", "min_pixels", "max_pixels")
        }
        return cls(
            given.get("model") or DEFAULT_MODEL,
            device=given.get("device") or os.environ.get("VRB_QWEN_DEVICE"),
            dtype=given.get("dtype") or os.environ.get("VRB_QWEN_DTYPE"),
            native_video=typed_option(cls.name, "native_video", given.get("native_video"), flag, False),
            max_images=typed_option(cls.name, "max_images", given.get("max_images"), int, 64),
            sampling=given.get("sampling", "auto"),
            **numbers,
        )

    @classmethod
    def from_model(cls, network: Any, processor: Any, name: str = "in-memory", **options: Any) -> QwenBackend:
        """Judge with a model already in memory (a fine-tune, or one built from a config) instead of
        loading a checkpoint; it is not shared through the process-wide cache."""
        return cls(name, loaded=prepare_loaded(network, processor), **options)

    def _context_length(self, max_model_len: int | None) -> tuple[int, str]:
        """The model's context in tokens and where that number comes from (for messages)."""
        if max_model_len is not None:
            if max_model_len < 1:
                raise ConfigError(f"backend 'qwen': option max_model_len={max_model_len} must be a positive integer")
            return max_model_len, "option max_model_len"
        config = self.loaded.model.config
        text = getattr(config, "text_config", None) or config
        return int(text.max_position_embeddings), "max_position_embeddings in the checkpoint's config.json"

    def capabilities(self) -> Capabilities:
        return Capabilities(
            images_in_tool_results=True,
            native_video=self.native_video,
            max_images_per_request=self.max_images,
            native_n=True,
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": self.loaded.device, "dtype": self.loaded.dtype}

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Run generation in a worker thread; concurrent calls queue on the model's lock."""
        return await asyncio.to_thread(self.generate, request)

    def generate(self, request: ModelRequest) -> ModelReply:
        """One blocking model call: `request.n` samples from a single `generate`."""
        started = time.perf_counter()
        try:
            with self.loaded.text_lock:
                fit = self.fit(request)
                chat = ChatBuilder(fit.request, self.rules, fit.max_pixels).build()
                prompt = self._render(chat)
                inputs = self._encode(chat, prompt)
            prompt_tokens = int(inputs["input_ids"].shape[1])
            self._check_context(prompt_tokens, request.max_output_tokens)
            with self.loaded.lock:
                sequences = self._run_generate(inputs, request)
                self.loaded.generate_calls += 1
        except (RuntimeError, ValueError) as exc:  # CUDA OOM, an image the processor rejects, ...
            raise BackendError(
                f"qwen generation failed on {self.loaded.device} ({type(exc).__name__}: {first_line(exc)}); "
                "fewer or smaller images (--frames, --max-images, --max-side) or a smaller model may help"
            ) from exc
        latency = time.perf_counter() - started
        thinking = prompt_opens_thinking(prompt)
        with self.loaded.text_lock:
            replies = [
                self._reply(
                    row[prompt_tokens:],
                    latency,
                    prompt_tokens if i == 0 else 0,
                    len(chat.images) if i == 0 else 0,
                    thinking=thinking,
                    budget=request.max_output_tokens,
                )
                for i, row in enumerate(sequences)
            ]
        while len(replies) < request.n:  # greedy decoding: every sample is the same sequence
            replies.append(replies[0].model_copy(update={"usage": Usage(output_tokens=replies[0].usage.output_tokens)}))
        return replies[0].model_copy(update={"alternatives": replies[1:], "notes": fit.notes})

    def fit(self, request: ModelRequest) -> Fit:
        """`request` fitted to the context: text tokens counted by the tokenizer on the rendered
        prompt (each image still one pad token), images by the processor's resize rules."""
        tokenizer = self.loaded.processor.tokenizer

        def count_text(candidate: ModelRequest) -> int:
            chat = ChatBuilder(candidate).build()
            return len(tokenizer(self._render(chat))["input_ids"]) - len(chat.images)

        return fit_to_context(request, self.rules, count_text, self.context, self.context_source)

    def _check_context(self, prompt_tokens: int, max_output_tokens: int) -> None:
        """The exact count after encoding (native video included) against the context."""
        if prompt_tokens + max_output_tokens > self.context:
            raise ContextOverflowError(
                f"the prompt is {prompt_tokens} tokens and --max-output-tokens reserves {max_output_tokens}, "
                f"more than the model's {self.context}-token context ({self.context_source}): lower --frames, "
                "--max-images, --max-side or --max-output-tokens"
            )

    def render(self, request: ModelRequest) -> str:
        """The exact prompt text the model sees for `request` (before image tokens are expanded)."""
        return self._render(ChatBuilder(request).build())

    def _render(self, chat: ChatInputs) -> str:
        return self.loaded.processor.apply_chat_template(
            chat.messages,
            tools=chat.tools or None,
            chat_template=self.loaded.chat_template,
            tokenize=False,
            add_generation_prompt=True,
        )

    def _encode(self, chat: ChatInputs, prompt: str | None = None) -> Any:
        """Prompt text plus pixels -> model inputs (image/video pads expanded by the processor)."""
        processor = self.loaded.processor
        text = self._render(chat) if prompt is None else prompt
        if chat.videos and type(processor).__name__.startswith("Qwen3VL"):
            text = text.replace(QWEN3_VIDEO_SLOT, "<|video_pad|>")
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt", "padding": True}
        if chat.images:
            kwargs["images"] = chat.images
        if chat.videos:
            kwargs["videos"] = chat.videos
            kwargs["video_metadata"] = chat.video_metadata
            kwargs["do_sample_frames"] = False
        return processor(**kwargs).to(self.loaded.device)

    def _run_generate(self, inputs: Any, request: ModelRequest) -> Any:
        import torch  # noqa: PLC0415

        options = self._sampling_options(request)
        if options.get("do_sample") and request.seed is not None:
            torch.manual_seed(request.seed)
        options.update(self.generation_kwargs)
        with torch.inference_mode():
            return self.loaded.model.generate(**inputs, **options).cpu()

    def _sampling_options(self, request: ModelRequest) -> dict[str, Any]:
        """`generate` arguments: the request's temperature, or the checkpoint's own sampling."""
        options: dict[str, Any] = {"max_new_tokens": request.max_output_tokens}
        if request.temperature > 0:
            return {
                **options,
                "do_sample": True,
                "temperature": request.temperature,
                "top_p": 1.0 if request.top_p is None else request.top_p,
                "top_k": 0,
                "num_return_sequences": request.n,
            }
        config = self.loaded.model.generation_config
        if self.sampling == "auto" and getattr(config, "do_sample", False):
            nucleus = {} if request.top_p is None else {"top_p": request.top_p}  # else its temperature/top_p/top_k
            return {**options, "do_sample": True, "num_return_sequences": request.n, **nucleus}
        # greedy: clear sampling defaults a checkpoint's generation_config may carry
        return {**options, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}

    def _reply(
        self,
        tokens: Any,
        latency: float,
        prompt_tokens: int,
        images: int,
        *,
        thinking: bool = False,
        budget: int = 0,
    ) -> ModelReply:
        """One generated sequence as a reply; the prompt is counted once, on the first sample
        (one prefill serves all samples), so summed usage is the real cost. `thinking`: the prompt
        ended inside `<think>`; a reply that never closes it is `unfinished`."""
        tokenizer = self.loaded.processor.tokenizer
        ids = tokens.tolist()
        stops = _stop_ids(self.loaded.model, tokenizer)
        end = next((i for i, token in enumerate(ids) if token in stops), None)
        produced = ids if end is None else ids[:end]
        thought = split_thinking(tokenizer.decode(produced, skip_special_tokens=True), thinking)
        usage = Usage(
            input_tokens=prompt_tokens,
            output_tokens=len(produced) + (0 if end is None else 1),
            images=images,
            calls=1 if prompt_tokens else 0,
        )
        base = {"usage": usage, "latency_s": latency, "model": self.model, "reasoning": thought.reasoning}
        if not thought.finished:  # no answer yet: neither its text nor its draft calls may be read
            message = unfinished_message(end is None, budget or None)
            return ModelReply(stop_reason="length" if end is None else "end", unfinished=message, **base)
        text, calls = parse_hermes_tool_calls(thought.answer)
        stop: StopReason = "length" if end is None else ("tool_calls" if calls else "end")
        return ModelReply(text=text, tool_calls=calls, stop_reason=stop, **base)


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a sequence (eos of the generation config and of the tokenizer, and pad)."""
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(value)
    if tokenizer.pad_token_id is not None:
        ids.add(tokenizer.pad_token_id)
    return ids
