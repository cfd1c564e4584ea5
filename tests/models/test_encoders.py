"""Every backbone builds from its spec, maps tiny inputs to (B, out_dim) and takes a training step."""

from __future__ import annotations

import pytest
import torch

from avbench.models import build_encoder, encoder_spec

CFG = {
    "video_backbone": "small3d",
    "audio_backbone": "vgg_small",
    "channels": [4, 8, 8, 16],
    "flow": {"backbone": "tcam_small", "segments": 2, "frames": 2},
}


@pytest.mark.parametrize(
    "kind,name,shape",
    [
        ("video", "small3d", (2, 3, 8, 32, 32)),
        ("video", "r3d_18", (2, 3, 8, 32, 32)),
        ("video", "mc3_18", (2, 3, 8, 32, 32)),
        ("video", "r2plus1d_18", (2, 3, 8, 32, 32)),
        ("video", "vit_small3d", (2, 3, 8, 30, 40)),
        ("audio", "vgg_small", (2, 1, 24, 50)),
        ("audio", "vgg", (2, 1, 24, 50)),
        ("audio", "resnet18", (2, 1, 24, 50)),
        ("flow", "tcam_small", (2, 4, 2, 24, 32)),
        ("flow", "tcam_vgg", (2, 4, 2, 24, 32)),
    ],
)
def test_backbone_trains_one_step(kind, name, shape):
    torch.manual_seed(0)
    cfg = dict(
        CFG,
        video_backbone=name if kind == "video" else "small3d",
        audio_backbone=name if kind == "audio" else "vgg_small",
        flow=dict(CFG["flow"], backbone=name if kind == "flow" else "tcam_small"),
    )
    enc = build_encoder(encoder_spec(kind, cfg))
    head = torch.nn.Linear(int(enc.out_dim), 2)
    opt = torch.optim.SGD(list(enc.parameters()) + list(head.parameters()), lr=0.1)
    x = torch.randn(*shape)
    y = torch.tensor([0, 1])
    out = enc(x)
    assert out.shape == (2, enc.out_dim)
    before = [p.detach().clone() for p in enc.parameters()]
    loss = torch.nn.functional.cross_entropy(head(out), y)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters() if p.requires_grad)
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, enc.parameters()))
