"""The pre- and post-processing steps every model backend shares.

Each step is small and knows one thing: the model's cameras and frame size
(:class:`FrameResize`, :class:`FrameRestore`), the domain's statistics
(:class:`Normalizer`, from :mod:`cosmos_policy.models.normalize`, which the Cosmos 3
adapter's statistics use too), the engine's static batch (:func:`pad_rows`). A
:class:`~cosmos_policy.policy.wrapper.Policy` chains them around a backend's graphs, so a
chunk is preprocessed the same way whether torch, ONNX Runtime or TensorRT runs the network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cosmos_policy.errors import SpecError
from cosmos_policy.models.autoencoder import frames_to_tensor, resize_frames, tensor_to_frames
from cosmos_policy.models.normalize import Normalizer, pad_last


class FrameResize:
    """B dicts camera -> uint8 (H, W, 3) -> uint8 (B, V, S, S, 3) in the model's camera order."""

    def __init__(self, cameras: Sequence[str], size: int) -> None:
        self.cameras, self.size = tuple(cameras), int(size)

    def __call__(self, images: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
        per_obs = []
        for imgs in images:
            missing = [cam for cam in self.cameras if cam not in imgs]
            if missing:
                raise SpecError(f"observation lacks cameras {missing}; the model needs "
                                f"{list(self.cameras)}, got {sorted(imgs)}")
            per_obs.append(np.stack([resize_frames(np.asarray(imgs[cam]), self.size)
                                     for cam in self.cameras]))
        return np.stack(per_obs)


class FrameRestore:
    """Decoded images (B, V, 3, S, S) in [0, 1] -> B dicts camera -> uint8 (1, h, w, 3), each
    camera upsampled back to the resolution of the frame it was predicted from."""

    def __init__(self, cameras: Sequence[str]) -> None:
        self.cameras = tuple(cameras)

    def __call__(self, decoded: np.ndarray, like: dict[str, np.ndarray]
                 ) -> list[dict[str, np.ndarray]]:
        imgs = tensor_to_frames(torch.from_numpy(np.ascontiguousarray(decoded)))
        out = []
        for b in range(imgs.shape[0]):
            frames = {}
            for v, cam in enumerate(self.cameras):
                h, w = np.asarray(like[cam]).shape[-3:-1]
                img = imgs[b, v]
                if (h, w) != img.shape[:2]:  # upsample the uint8 frame, as a viewer would
                    x = torch.nn.functional.interpolate(
                        frames_to_tensor(img[None]), size=(h, w), mode="bilinear",
                        align_corners=False)
                    img = tensor_to_frames(x)[0]
                frames[cam] = img[None]
            out.append(frames)
        return out


def pad_rows(x: np.ndarray, batch: int | None) -> np.ndarray:
    """Repeat the last row so a short part fills a static ``batch`` (None: any batch)."""
    n = x.shape[0]
    if batch is None or n == batch:
        return x
    return np.concatenate([x, np.repeat(x[-1:], batch - n, 0)])


def pad_prompts(prompts: list[str], batch: int | None) -> list[str]:
    """:func:`pad_rows` for prompts."""
    return prompts if batch is None else prompts + [prompts[-1]] * (batch - len(prompts))


__all__ = ["FrameResize", "FrameRestore", "Normalizer", "pad_last", "pad_prompts", "pad_rows"]
