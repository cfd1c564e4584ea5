"""Encode and decode the arrays of one shard sample (the bytes of its tar members).

Members of a sample (``<key>.<ext>`` in the tar):

- ``frames.npy``: uint8 (T, H, W, 3) RGB, raw (``frame_codec: npy``); or ``frames.mjpeg``: the
  T frames as baseline JPEG images concatenated (a Motion-JPEG stream, ``frame_codec: jpeg``),
  with their byte lengths in the JSON field ``frame_jpeg_bytes``;
- ``flow.npy``: uint8 (T-1, H, W, 2) optical flow from frame k to k+1, quantized as in
  mmaction2/denseflow: ``q = round((clip(f, -b, b) + b) * 255 / (2 b))`` with the bound ``b`` in
  the JSON field ``flow.bound`` (:func:`dequantize_flow` inverts it) (``flow.codec: npy``); or
  ``flow.mjpeg``: the same quantized fields as 8-bit grayscale JPEG images, two per pair (x then
  y, as denseflow writes ``flow_x``/``flow_y``), concatenated, with their byte lengths in the JSON
  field ``flow_jpeg_bytes`` and ``flow.codec`` = ``{"name": "jpeg", "quality": q}``
  (``flow.codec: jpeg``);
- ``mel.npy``: float16 (n_mels, M) log-mel, mel frame ``i`` at ``i * hop_ms`` ms after ``t_start``;
- ``wav.npy`` (only with the shard option ``waveform``): int16 (N,) the mono waveform at
  ``sample_rate`` the log-mel was computed from, sample ``i`` at ``i / sample_rate`` s after
  ``t_start`` (:func:`wav_int16`; :func:`avbench.shards.loader.wav_window` reads it as float);
- ``json``: the metadata (what was done to the sample).

:func:`decode_sample` turns the raw members (as webdataset yields them) into arrays.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np


def npy_bytes(arr: np.ndarray) -> bytes:
    """``arr`` as the bytes of an ``.npy`` file (no pickle)."""
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_array(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def encode_jpeg_frames(frames: np.ndarray, quality: int = 90) -> tuple[bytes, list[int]]:
    """uint8 (T, H, W, 3) RGB -> (concatenated JPEG bytes, byte length of each frame)."""
    import cv2

    parts: list[bytes] = []
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
    for f in frames:
        ok, enc = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), params)
        if not ok:  # pragma: no cover - cv2 fails only on invalid input
            raise ValueError("JPEG encoding failed")
        parts.append(enc.tobytes())
    return b"".join(parts), [len(p) for p in parts]


def wav_int16(wave: np.ndarray) -> np.ndarray:
    """float waveform in [-1, 1] -> int16 (clipped): what ``wav.npy`` stores."""
    return np.clip(np.rint(np.asarray(wave, np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def decode_jpeg_frames(data: bytes, lengths: list[int]) -> np.ndarray:
    """Inverse of :func:`encode_jpeg_frames`: uint8 (T, H, W, 3) RGB."""
    import cv2

    out = []
    pos = 0
    buf = np.frombuffer(data, dtype=np.uint8)
    for n in lengths:
        img = cv2.imdecode(buf[pos : pos + n], cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"corrupt JPEG frame at byte {pos}")
        out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        pos += n
    if pos != len(buf):
        raise ValueError("frame_jpeg_bytes does not add up to the size of frames.mjpeg")
    return np.stack(out) if out else np.zeros((0, 0, 0, 3), np.uint8)


class JpegFrames:
    """The frames of a ``frames.mjpeg`` member, decoded only when (and where) they are indexed.

    Behaves like a uint8 (T, H, W, 3) array for what views do: ``len``, ``shape``, integer, slice
    and index-array indexing (``frames[k0:k0 + 16]`` decodes 16 JPEGs, not the whole video) and
    ``np.asarray(frames)`` (decodes all).
    """

    def __init__(self, data: bytes, lengths: list[int], size: tuple[int, int] | None = None) -> None:
        self._buf = np.frombuffer(data, dtype=np.uint8)
        self._lengths = [int(n) for n in lengths]
        self._offsets = np.concatenate([[0], np.cumsum(self._lengths)]).astype(np.int64)
        if int(self._offsets[-1]) != len(self._buf):
            raise ValueError("frame_jpeg_bytes does not add up to the size of frames.mjpeg")
        self._size = size

    def __len__(self) -> int:
        return len(self._lengths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        if self._size is None:
            h, w = self._decode(0).shape[:2] if len(self) else (0, 0)
            self._size = (w, h)
        return (len(self), self._size[1], self._size[0], 3)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def _decode(self, i: int) -> np.ndarray:
        import cv2

        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        img = cv2.imdecode(self._buf[a:b], cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"corrupt JPEG frame {i} at byte {a}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def __getitem__(self, idx: Any) -> np.ndarray:
        if isinstance(idx, (int, np.integer)):
            return self._decode(int(idx) % len(self) if idx < 0 else int(idx))
        rows = np.arange(len(self))[idx]
        _, h, w, _ = self.shape
        out = np.empty((len(rows), h, w, 3), np.uint8)
        for j, i in enumerate(rows):
            out[j] = self._decode(int(i))
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[:]
        return arr.astype(dtype) if dtype is not None else arr


def encode_jpeg_flow(q: np.ndarray, quality: int = 95) -> tuple[bytes, list[int]]:
    """Quantized flow uint8 (T, H, W, 2) -> (2T grayscale JPEG images x0, y0, x1, y1, ...
    concatenated, byte length of each image)."""
    import cv2

    parts: list[bytes] = []
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
    for field in q:
        for c in (0, 1):
            ok, enc = cv2.imencode(".jpg", np.ascontiguousarray(field[..., c]), params)
            if not ok:  # pragma: no cover - cv2 fails only on invalid input
                raise ValueError("JPEG encoding failed")
            parts.append(enc.tobytes())
    return b"".join(parts), [len(p) for p in parts]


class JpegFlow:
    """The quantized flow of a ``flow.mjpeg`` member, decoded only where it is indexed.

    Behaves like a uint8 (T, H, W, 2) array for what views do: ``len``, ``shape``, first-axis
    integer, slice and index-array indexing (``flow[k0:k0 + 16]`` decodes 32 images, not the
    whole video), ``astype`` and ``np.asarray(flow)`` (decode all); other indexing decodes all.
    """

    def __init__(self, data: bytes, lengths: list[int], size: tuple[int, int] | None = None) -> None:
        if len(lengths) % 2:
            raise ValueError("flow_jpeg_bytes must list two images (x, y) per flow field")
        self._buf = np.frombuffer(data, dtype=np.uint8)
        self._offsets = np.concatenate([[0], np.cumsum([int(n) for n in lengths])]).astype(np.int64)
        if int(self._offsets[-1]) != len(self._buf):
            raise ValueError("flow_jpeg_bytes does not add up to the size of flow.mjpeg")
        self._n = len(lengths) // 2
        self._size = size

    def __len__(self) -> int:
        return self._n

    @property
    def shape(self) -> tuple[int, int, int, int]:
        if self._size is None:
            h, w = self._image(0).shape[:2] if self._n else (0, 0)
            self._size = (w, h)
        return (self._n, self._size[1], self._size[0], 2)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def _image(self, j: int) -> np.ndarray:
        import cv2

        a, b = int(self._offsets[j]), int(self._offsets[j + 1])
        img = cv2.imdecode(self._buf[a:b], cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"corrupt flow JPEG image {j} at byte {a}")
        return img

    def _field(self, i: int, out: np.ndarray) -> None:
        out[..., 0] = self._image(2 * i)
        out[..., 1] = self._image(2 * i + 1)

    def __getitem__(self, idx: Any) -> np.ndarray:
        _, h, w, _ = self.shape
        if isinstance(idx, (int, np.integer)):
            i = int(idx) % self._n if idx < 0 else int(idx)
            one = np.empty((h, w, 2), np.uint8)
            self._field(i, one)
            return one
        if isinstance(idx, tuple):
            return self[:][idx]
        rows = np.arange(self._n)[idx]
        out = np.empty((len(rows), h, w, 2), np.uint8)
        for j, i in enumerate(rows):
            self._field(int(i), out[j])
        return out

    def astype(self, dtype: Any) -> np.ndarray:
        return self[:].astype(dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[:]
        return arr.astype(dtype) if dtype is not None else arr


def quantize_flow(flow: np.ndarray, bound: float) -> np.ndarray:
    """float (..., 2) flow in pixels -> uint8, clipped to ``[-bound, bound]`` (denseflow convention)."""
    q = np.clip(flow, -bound, bound)  # a new array, then the same operations in place
    q += bound
    q *= 255.0 / (2.0 * bound)
    return np.rint(q, out=q).astype(np.uint8)


def dequantize_flow(q: np.ndarray, bound: float) -> np.ndarray:
    """uint8 flow -> float32 pixels (the quantization step is ``2 * bound / 255``)."""
    return q.astype(np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound)


def decode_sample(raw: dict[str, Any]) -> dict[str, Any]:
    """Raw tar members of one sample -> ``{"key", "meta", "frames", "flow", "mel", "wav"}``.

    frames: uint8 (T, H, W, 3) or None (a :class:`JpegFrames`, decoded where indexed, for
    ``frames.mjpeg``); flow: uint8 (T-1, H, W, 2) or None (quantized; see :func:`dequantize_flow`;
    a :class:`JpegFlow`, decoded where indexed, for ``flow.mjpeg``);
    mel: float32 (n_mels, M) or None; wav: int16 (N,) or None (``wav.npy``, stored only with the
    shard option ``waveform``); meta: the JSON dict.
    """
    meta = raw["json"]
    if isinstance(meta, (bytes, bytearray)):
        meta = json.loads(meta)
    frames = None
    if "frames.npy" in raw:
        frames = npy_array(raw["frames.npy"])
    elif "frames.mjpeg" in raw:
        size = meta.get("size")
        frames = JpegFrames(raw["frames.mjpeg"], meta["frame_jpeg_bytes"], tuple(size) if size else None)
    flow: np.ndarray | JpegFlow | None = None
    if "flow.npy" in raw:
        flow = npy_array(raw["flow.npy"])
    elif "flow.mjpeg" in raw:
        size = meta.get("size")
        flow = JpegFlow(raw["flow.mjpeg"], meta["flow_jpeg_bytes"], tuple(size) if size else None)
    mel = npy_array(raw["mel.npy"]).astype(np.float32) if "mel.npy" in raw else None
    wav = npy_array(raw["wav.npy"]) if "wav.npy" in raw else None
    return {"key": raw["__key__"], "meta": meta, "frames": frames, "flow": flow, "mel": mel, "wav": wav}
