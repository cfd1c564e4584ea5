"""AVOL-Net: audio-visual object localization (Arandjelovic & Zisserman, "Objects that sound", ECCV 2018).

The correspondence task of L3-Net and AVE-Net (:mod:`avbench.pretext.l3`: each clip with its own
audio, positive, and with the audio of another video of the batch, negative; chance 50%), decided
in a way that says *where* the sound comes from:

- the visual path sees **one frame** (the clip's middle frame; no motion) and keeps its spatial
  map: the video encoder's first ``blocks`` convolution blocks run on the single frame (Small3D:
  without its mean-frame subtraction, which would leave nothing of one frame; 2 blocks: stride 4,
  a 10x8 map at 40x30), then two 1x1 convolutions project every position to an L2-normalised
  embedding;
- the audio path is the log-mel encoder's pooled features through two fully connected layers to an
  L2-normalised embedding of the same size (the clip's ``clip_frames / fps`` seconds of sound);
- the **similarity map** is the scalar product of the audio embedding with every position of the
  visual map; its **maximum over positions** (multiple-instance learning: the sound needs one
  position that explains it), scaled and shifted by a learned scalar pair, is the logit of
  "corresponds" (binary cross-entropy). ``avolnet.normalize`` (default true) L2-normalises both
  embeddings (the map is then a cosine in [-1, 1]); false keeps plain scalar products, as the
  paper's figure of AVOL-Net draws them; ``avolnet.scale`` is the scale's initial value.

The similarity map before the max is the localization heatmap (:func:`similarity_map`, scored by
:mod:`avbench.evaluate.localize`). Held-out metrics: correspondence accuracy, and cross-modal
retrieval over the held-out set with the frame's mean-pooled map embedding (``recall1_v2a`` ...,
as :mod:`avbench.pretext.avenet`).

Deviations: the paper's visual network is an image VGG on 224 px frames (a 14x14 map) trained on
AudioSet; here it is the 3D video encoder on one frame. The blocks past ``blocks`` get no gradient
from this pretext: the downstream video features (clips through the whole encoder, with the mean
frame subtracted) are not what it trained, so its downstream rows say little about it.

On the synthetic world it cannot learn (README "Sound-source localization", measured): the world
draws appearance independently of the class and the sound, so one frame says nothing about which
sound goes with it (a supervised single-frame classifier is at chance too); the tests' tiny world,
whose classes differ in appearance, is where it learns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from avbench.models.video import Small3D, stage_features
from avbench.pretext.avenet import cross_modal_recalls
from avbench.pretext.base import Pretext, PretrainModel
from avbench.pretext.l3 import correspondence_pairs, negatives_same_class


def frame_map(encoder: nn.Module, frame: torch.Tensor, *, blocks: int = 2) -> torch.Tensor:
    """The visual feature map of single frames: float (B, 3, H, W) in [0, 1] -> (B, C, h, w).

    Small3D: its first ``blocks`` conv-bn-relu blocks on the frame as a one-frame clip, without the
    mean-frame subtraction. Any other video encoder: its :func:`~avbench.models.video.stage_features`
    on the frame repeated into a 4-frame clip, averaged over time."""
    if isinstance(encoder, Small3D):
        mods = list(encoder.features.children())[: 3 * int(blocks)]
        y = frame.unsqueeze(2)
        for m in mods:
            y = m(y)
        return y.mean(dim=2)
    clip = frame.unsqueeze(2).expand(-1, -1, 4, -1, -1)
    return stage_features(encoder)(clip).mean(dim=2)


def map_channels(encoder: nn.Module, *, blocks: int, size: tuple[int, int] = (40, 30)) -> int:
    """Channels of :func:`frame_map` for this encoder (a dry run on a zero frame of ``size``)."""
    with torch.no_grad():
        was = encoder.training
        encoder.eval()
        c = int(frame_map(encoder, torch.zeros(1, 3, size[1], size[0]), blocks=blocks).shape[1])
        encoder.train(was)
    return c


class AVOLHead(nn.Module):
    """Per-position visual embeddings, the audio embedding and the calibration of the max similarity.

    embed_map: float (B, C, h, w) -> (B, D, h, w), L2-normalised over D; embed_audio: (B, A) -> (B, D);
    similarity(v, a): (P, D, h, w), (P, D) -> (P, h, w) in [-1, 1]; forward(v, a) -> (P,) logits of
    "corresponds" from the maximum over positions.
    """

    def __init__(
        self, *, map_dim: int, audio_dim: int, embed_dim: int = 128, normalize: bool = True, scale: float = 5.0
    ) -> None:
        super().__init__()
        self.normalize = bool(normalize)
        self.video = nn.Sequential(
            nn.Conv2d(map_dim, embed_dim, 1), nn.ReLU(inplace=True), nn.Conv2d(embed_dim, embed_dim, 1)
        )
        self.audio = nn.Sequential(
            nn.Linear(audio_dim, embed_dim), nn.ReLU(inplace=True), nn.Linear(embed_dim, embed_dim)
        )
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.bias = nn.Parameter(torch.tensor(-2.0))

    def embed_map(self, fmap: torch.Tensor) -> torch.Tensor:
        y = self.video(fmap)
        return nn.functional.normalize(y, dim=1) if self.normalize else y

    def embed_audio(self, fa: torch.Tensor) -> torch.Tensor:
        y = self.audio(fa)
        return nn.functional.normalize(y, dim=-1) if self.normalize else y

    @staticmethod
    def similarity(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return torch.einsum("pdhw,pd->phw", v, a)

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.scale * self.similarity(v, a).flatten(1).amax(1) + self.bias


def middle_frame(video: torch.Tensor) -> torch.Tensor:
    """The middle frame of clips (B, 3, T, H, W) -> (B, 3, H, W)."""
    return video[:, :, video.shape[2] // 2]


class AVOLNet(Pretext):
    """Audio-visual correspondence through the max-pooled similarity map of one frame: ``avolnet``."""

    name = "avolnet"
    encoders = ("video", "audio")
    needs = frozenset({"frames", "mel"})

    def blocks(self) -> int:
        return int(self.settings().get("blocks", 2))

    def build_head(self, dims: dict[str, int]) -> nn.Module:
        from avbench.models import build_encoder

        probe = build_encoder(self.encoder_specs()["video"])
        size = tuple(int(v) for v in (self.cfg.get("frame_size") or (40, 30)))
        return AVOLHead(
            map_dim=map_channels(probe, blocks=self.blocks(), size=(size[0], size[1])),
            audio_dim=dims["audio"],
            embed_dim=int(self.settings().get("embed_dim", 128)),
            normalize=bool(self.settings().get("normalize", True)),
            scale=float(self.settings().get("scale", 5.0)),
        )

    def embed(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(visual map embeddings (B, D, h, w) of the clips' middle frames, audio embeddings (B, D))."""
        fmap = frame_map(model.encoders["video"], middle_frame(batch["video"]), blocks=self.blocks())
        return model.head.embed_map(fmap), model.head.embed_audio(model.encode("audio", batch["audio"]))

    def _logits(
        self, model: PretrainModel, batch: dict[str, Any], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v, a = self.embed(model, batch)
        vi, ai, y = correspondence_pairs(len(v), generator, batch["key"])
        dev = v.device
        return model.head(v[vi.to(dev)], a[ai.to(dev)]), y.to(dev), ai

    def loss(
        self, model: PretrainModel, batch: dict[str, Any], *, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits, y, _ = self._logits(model, batch, generator)
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), y.float())
        return loss, {"pretext_acc": float(((logits > 0).long() == y).float().mean())}

    @torch.no_grad()
    def heldout_metrics(
        self, model: PretrainModel, batch: dict[str, Any], *, generator: torch.Generator
    ) -> dict[str, float]:
        logits, y, ai = self._logits(model, batch, generator)
        return {"pretext_acc": float(((logits > 0).long() == y).float().mean()), **negatives_same_class(batch, ai)}

    def retrieval_embeddings(self, model: PretrainModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings for retrieval (held-out recall, :mod:`avbench.evaluate.retrieval`): the middle
        frame's map embedding averaged over positions and L2-normalised (B, D), and the audio
        embedding (B, D)."""
        v, a = self.embed(model, batch)
        return nn.functional.normalize(v.mean(dim=(2, 3)), dim=-1), a

    @torch.no_grad()
    def heldout_outputs(self, model: PretrainModel, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        v, a = self.retrieval_embeddings(model, batch)
        return {"v": v, "a": a}

    def heldout_summary(self, outputs: dict[str, np.ndarray]) -> dict[str, float]:
        return cross_modal_recalls(outputs["v"], outputs["a"])


@torch.no_grad()
def similarity_map(
    model: PretrainModel, pretext: AVOLNet, frame: torch.Tensor, audio: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """The localization heatmaps of frames (B, 3, H, W) in [0, 1] with their audio (B, 1, n_mels, A,
    normalised as in training): the similarity map, bilinearly resized to ``size`` = (W, H). (B, H, W)."""
    batch = {"video": frame.unsqueeze(2), "audio": audio}
    v, a = pretext.embed(model, batch)
    sim = AVOLHead.similarity(v, a)
    return nn.functional.interpolate(sim[:, None], size=(size[1], size[0]), mode="bilinear", align_corners=False)[:, 0]
