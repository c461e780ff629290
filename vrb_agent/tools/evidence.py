"""Content-addressed store of the encoded images a judge was shown.

Pixels never enter LangGraph state or messages: they hold ids from this store. Each distinct image
is JPEG-encoded once (at the store's quality and max side) and its id is the hash of those bytes,
so the same frame shown twice, in two modes or K samples, is one entry and one id.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import threading
from dataclasses import dataclass, field

import numpy as np

from vrb_agent.errors import VrbError
from vrb_agent.lru import LRU
from vrb_agent.tools.media import _fit


@dataclass(frozen=True)
class EvidenceImage:
    """An encoded image and what it shows."""

    id: str
    jpeg: bytes
    width: int
    height: int
    label: str
    timestamp: float | None = None
    box: tuple[float, float, float, float] | None = None
    meta: dict[str, object] = field(default_factory=dict)

    @functools.cached_property
    def base64(self) -> str:
        """Encoded once: backends send the same image in every request of a conversation."""
        return base64.b64encode(self.jpeg).decode("ascii")

    @property
    def data_url(self) -> str:
        return f"data:image/jpeg;base64,{self.base64}"

    def to_array(self) -> np.ndarray:
        """Decode back to RGB pixels (for backends that take arrays, and for tests)."""
        return decode_jpeg(self.jpeg)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Encode RGB pixels as JPEG."""
    import cv2  # noqa: PLC0415

    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise VrbError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode JPEG (or PNG) bytes to RGB pixels."""
    import cv2  # noqa: PLC0415

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise VrbError("image bytes could not be decoded")
    return bgr[:, :, ::-1].copy()


# Process-wide JPEG bytes by (pixel digest, quality), bounded in bytes: the same frame judged for
# several questions, modes or samples (each with its own store) is encoded once.
ENCODED_CACHE: LRU[tuple[bytes, int], bytes] = LRU(max_weight=32 * 1024 * 1024, weigh=len)


class EvidenceStore:
    """Thread-safe map from content-addressed ids to encoded images."""

    def __init__(self, quality: int = 85, max_side: int = 768) -> None:
        self.quality = quality
        self.max_side = max_side
        self._images: dict[str, EvidenceImage] = {}
        self._by_pixels: dict[tuple[bytes, str], str] = {}
        self._lock = threading.Lock()
        self.encodings = 0

    def put(
        self,
        image: np.ndarray,
        label: str,
        *,
        timestamp: float | None = None,
        box: tuple[float, float, float, float] | None = None,
        meta: dict[str, object] | None = None,
    ) -> str:
        """Store an RGB image (downscaled to the store's max side) and return its id.
        Identical pixels with the same label are encoded once."""
        fitted = _fit(image, self.max_side)
        digest = hashlib.blake2b(np.ascontiguousarray(fitted).data, digest_size=16).digest()
        with self._lock:
            known = self._by_pixels.get((digest, label))
            if known is not None:
                return known
        jpeg = ENCODED_CACHE.get((digest, self.quality))
        encoded_now = jpeg is None
        if jpeg is None:
            jpeg = encode_jpeg(fitted, self.quality)
            ENCODED_CACHE.put((digest, self.quality), jpeg)
        evidence_id = "ev-" + hashlib.sha256(jpeg + label.encode()).hexdigest()[:20]
        entry = EvidenceImage(
            evidence_id, jpeg, fitted.shape[1], fitted.shape[0], label, timestamp, box, dict(meta or {})
        )
        with self._lock:
            self._images.setdefault(evidence_id, entry)
            self._by_pixels[(digest, label)] = evidence_id
            self.encodings += encoded_now
        return evidence_id

    def add(self, image: EvidenceImage) -> str:
        """Store an image encoded elsewhere (e.g. by another judgment of the same frames); returns its id."""
        with self._lock:
            self._images.setdefault(image.id, image)
        return image.id

    def get(self, evidence_id: str) -> EvidenceImage:
        """The image behind an id; an unknown id is a programming error worth a clear message."""
        try:
            return self._images[evidence_id]
        except KeyError:
            raise VrbError(f"unknown evidence id {evidence_id!r} (not in this judgment's evidence store)") from None

    def __contains__(self, evidence_id: object) -> bool:
        return evidence_id in self._images

    def __len__(self) -> int:
        return len(self._images)

    def ids(self) -> list[str]:
        return list(self._images)

    def clear(self) -> None:
        """Drop every image: a benchmark clears a sample's store once its records are written, so
        nothing that still refers to the store (a trace, a cached backend) keeps its JPEGs alive."""
        with self._lock:
            self._images.clear()
            self._by_pixels.clear()
