"""Multisensory class activation maps as a localization heat source: on a network built so that its
in-sync evidence is the red channel, the CAM peaks on the red square, through the clip layout the
localization set uses."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from avbench.evaluate.localize import Clip, _cam_fn, box_mask, cam_heatmaps, multisensory_cam, pointing_hit
from avbench.models.multisensory import MultisensoryNet

H, W, T = 30, 40, 4
BOX = np.array([24.0, 16.0, 32.0, 24.0])  # x0, y0, x1, y1 of the red square (frame coordinates)


def _red_detector() -> tuple[MultisensoryNet, nn.Linear]:
    """Every convolution passes its input channel 0 (red) to output channel 0 at its centre tap,
    BatchNorm is the identity, the audio channels are ignored; the sync head reads channel 0. So the
    in-sync evidence at a position is the red value the network samples there (every 8th pixel)."""
    net = MultisensoryNet(
        channels=(4, 4, 4, 4), fuse_after=2, audio_input="spectrogram", audio_channels=(4,), subtract_mean=False
    )
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv3d):
                m.weight.zero_()
                m.weight[0, 0, 1, 1, 1] = 1.0
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.weight.fill_(1.0)
                m.bias.zero_()
    fc = nn.Linear(net.out_dim, 1)
    with torch.no_grad():
        fc.weight.zero_()
        fc.weight[0, 0] = 1.0
        fc.bias.fill_(-0.25)
    return net.eval(), fc


def _frames(with_square: bool = True) -> np.ndarray:
    f = np.full((T, H, W, 3), 40, np.uint8)
    f[..., 1] = 120  # green background, no red evidence
    if with_square:
        f[:, 16:24, 24:32] = (230, 30, 30)
    return f


def test_cam_is_the_head_applied_at_every_position():
    net, fc = _red_detector()
    video = torch.from_numpy(_frames()).permute(3, 0, 1, 2)[None].float() / 255.0
    audio = torch.zeros(1, 1, 16, 20)
    cam = multisensory_cam(net, fc, video, audio)
    assert cam.shape == (1, 1, 4, 5)  # time 4 / 4, space / 8 (ceil)
    with torch.no_grad():
        fmap = net.fuse_map(net.video_map(video), audio)
        logit = fc(torch.amax(fmap, dim=(2, 3, 4)))
    assert torch.allclose(cam[0, 0], fmap[0, 0, 0] - 0.25)
    peak = np.unravel_index(int(cam[0, 0].argmax()), (4, 5))
    assert peak == (2, 3)  # the cell sampling pixel (16, 24): the square's corner
    # the logit is the head on the pooled map: never below the CAM's maximum when the weights are >= 0
    assert float(logit) >= float(cam.max()) - 1e-6


def test_cam_heatmap_points_at_the_square_in_frame_coordinates():
    net, fc = _red_detector()
    video = torch.from_numpy(_frames()).permute(3, 0, 1, 2)[None].float() / 255.0
    heat = cam_heatmaps(net, fc, video, torch.zeros(1, 1, 16, 20), (W, H))[0].numpy()
    assert heat.shape == (H, W)
    assert pointing_hit(heat, box_mask(BOX, (W, H)))
    # no square: a flat map, nothing to point at
    flat = torch.from_numpy(_frames(False)).permute(3, 0, 1, 2)[None].float() / 255.0
    h0 = cam_heatmaps(net, fc, flat, torch.zeros(1, 1, 16, 20), (W, H))[0].numpy()
    assert np.ptp(h0) == pytest.approx(0.0, abs=1e-6)


def test_cam_heat_function_reads_clips_of_the_localization_set():
    """The clips' (T, H, W, 3) frames and their log-mel go through the run's input layout; a
    waveform run without a waveform in the shards stops with its reason."""
    net, fc = _red_detector()
    model = SimpleNamespace(encoders={"video": net}, head=SimpleNamespace(fc=fc))
    clips = [
        Clip("v0", 0, _frames(), T // 2, np.zeros((16, 20), np.float32), BOX, None, silent_object=False),
        Clip("v1", 0, _frames()[:, :, ::-1].copy(), T // 2, np.zeros((16, 20), np.float32), BOX, None, False),
    ]
    heats = _cam_fn(model, SimpleNamespace(audio_input="spectrogram"), (0.0, 1.0), 64)(clips)
    assert pointing_hit(heats[0], box_mask(BOX, (W, H)))
    mirrored = np.array([W - BOX[2], BOX[1], W - BOX[0], BOX[3]])
    assert pointing_hit(heats[1], box_mask(mirrored, (W, H)))  # the square mirrored, so is the peak
    with pytest.raises(ValueError, match="waveform"):
        _cam_fn(model, SimpleNamespace(audio_input="waveform"), (0.0, 1.0), 64)(clips)
