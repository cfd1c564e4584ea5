"""Self-supervised pretext tasks (and the supervised/scratch references), one module per method.

:data:`PRETEXTS` maps a method name (the ``method`` of a run in ``pretrain.runs``) to its
:class:`~avbench.pretext.base.Pretext` class:

========================  =========================================================  ===========
method                    module                                                     encoders
========================  =========================================================  ===========
``avts``                  :mod:`~avbench.pretext.avts` (sync, easy/hard, curriculum)  video, audio
``l3``                    :mod:`~avbench.pretext.l3` (correspondence, fused)          video, audio
``avenet``                :mod:`~avbench.pretext.avenet` (correspondence, distance)   video, audio
``avolnet``               :mod:`~avbench.pretext.avol` (correspondence, localizing)   video, audio
``multisensory``          :mod:`~avbench.pretext.multisensory` (sync, early fusion)   video (fused)
``sdc`` ``mdc`` ``cdc``   :mod:`~avbench.pretext.xdc` (deep clustering)               video, audio
``xdc``
``aot``                   :mod:`~avbench.pretext.aot` (arrow of time on flow)         flow
``shuffle_learn``         :mod:`~avbench.pretext.shuffle_learn` (order verification)  video
``odd_one_out``           :mod:`~avbench.pretext.odd_one_out` (O3N)                   video
``sorting``               :mod:`~avbench.pretext.sorting` (OPN sequence sorting)      video
``jigsaw``                :mod:`~avbench.pretext.jigsaw` (spatio-temporal tiles)      video
``speed``                 :mod:`~avbench.pretext.speed` (playback speed)              video
``videomae``              :mod:`~avbench.pretext.videomae` (masked tubes, ViT)        video
``colorization``          :mod:`~avbench.pretext.colorization` (tracking by colour)   video
``crw``                   :mod:`~avbench.pretext.cycle` (contrastive random walk)     video
``tcc``                   :mod:`~avbench.pretext.tcc` (temporal cycle-consistency)    video
``image_context``         :mod:`~avbench.pretext.image` (relative position)          video (2D)
``image_colour``          :mod:`~avbench.pretext.image` (colourization)              video (2D)
``image_exemplar``        :mod:`~avbench.pretext.image` (exemplar, InfoNCE)          video (2D)
``image_rotation``        :mod:`~avbench.pretext.image` (4-way rotation)             video (2D)
``image_multitask``       :mod:`~avbench.pretext.image` (several on one encoder)     video (2D)
``infonce``               :mod:`~avbench.pretext.infonce` (cross-modal InfoNCE)       video, audio
``random_targets``        :mod:`~avbench.pretext.random_targets` (control)            video, audio
``supervised``            :mod:`~avbench.pretext.supervised` (labels; reference)      configurable
``scratch``               random init (reference)                                    all
========================  =========================================================  ===========
"""

from __future__ import annotations

from avbench.pretext.aot import ArrowOfTime
from avbench.pretext.avenet import AVENet
from avbench.pretext.avol import AVOLNet
from avbench.pretext.avts import AVTS
from avbench.pretext.base import Pretext, PretrainModel, to_tensors
from avbench.pretext.colorization import Colorization
from avbench.pretext.image import ImageColour, ImageContext, ImageExemplar, ImageMultitask, ImageRotation
from avbench.pretext.cycle import ContrastiveRandomWalk
from avbench.pretext.infonce import InfoNCE
from avbench.pretext.jigsaw import Jigsaw
from avbench.pretext.l3 import L3
from avbench.pretext.multisensory import Multisensory
from avbench.pretext.odd_one_out import OddOneOut
from avbench.pretext.random_targets import RandomTargets
from avbench.pretext.shuffle_learn import ShuffleLearn
from avbench.pretext.sorting import Sorting
from avbench.pretext.speed import Speed
from avbench.pretext.supervised import Scratch, Supervised
from avbench.pretext.tcc import TCC
from avbench.pretext.videomae import VideoMAE
from avbench.pretext.xdc import CDC, MDC, SDC, XDC

PRETEXTS: dict[str, type[Pretext]] = {
    cls.name: cls
    for cls in (
        AVTS,
        L3,
        AVENet,
        AVOLNet,
        Multisensory,
        SDC,
        MDC,
        CDC,
        XDC,
        ArrowOfTime,
        ShuffleLearn,
        OddOneOut,
        Sorting,
        Jigsaw,
        Speed,
        Colorization,
        ContrastiveRandomWalk,
        TCC,
        VideoMAE,
        ImageContext,
        ImageColour,
        ImageExemplar,
        ImageRotation,
        ImageMultitask,
        InfoNCE,
        RandomTargets,
        Supervised,
        Scratch,
    )
}

__all__ = ["PRETEXTS", "Pretext", "PretrainModel", "to_tensors"]
