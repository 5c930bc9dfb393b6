"""PromptIR specifics: the prompt block and the six 1x1 convolutions the official forward never uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from baselines.promptir.network import PromptIR
from baselines.promptir.prompt import PromptGenBlock
from tests.baselines.restormer_family import fixed_images, key_shapes, synthetic_state_dict

UNUSED = (
    "chnl_reduce1",
    "chnl_reduce2",
    "chnl_reduce3",
    "reduce_noise_channel_1",
    "reduce_noise_channel_2",
    "reduce_noise_channel_3",
)
SMALL = {
    "dim": 8,
    "num_blocks": (1, 1, 1, 1),
    "num_refinement_blocks": 1,
    "prompt_dims": (8, 16, 24),
    "prompt_sizes": (8, 4, 4),
}


def test_unused_layers_are_the_published_215296_parameters() -> None:
    full = PromptIR()
    lean = PromptIR(unused_layers=False)
    unused = {k for k in full.state_dict() if k.split(".")[0] in UNUSED}
    assert set(full.state_dict()) - set(lean.state_dict()) == unused
    count = sum(full.state_dict()[k].numel() for k in unused)
    assert count == 64 * 64 + 128 * 128 + 256 * 320 + 48 * 112 + 96 * 224 + 192 * 448 == 215_296


def test_unused_layers_do_not_change_the_output() -> None:
    full = PromptIR(**SMALL).eval()
    state = synthetic_state_dict(key_shapes(full))
    full.load_state_dict(state)
    lean = PromptIR(**SMALL, unused_layers=False).eval()
    lean.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] not in UNUSED})
    x = fixed_images(1, 16, 24, seed=10)
    with torch.inference_mode():
        assert torch.equal(full(x), lean(x))


def test_prompt_block_mixes_prompts_by_softmax_weights_of_the_pooled_input() -> None:
    block = PromptGenBlock(channels=2, length=3, size=4, in_channels=5).eval()
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 5, 6, 8, generator=gen)
    with torch.no_grad():
        got = block(x)
        weights = torch.softmax(
            x.mean(dim=(2, 3)) @ block.linear_layer.weight.T + block.linear_layer.bias, 1
        )
        for b in range(2):
            mixed = sum(weights[b, i] * block.prompt_param[0, i] for i in range(3))
            resized = F.interpolate(mixed[None], size=(6, 8), mode="bilinear", align_corners=False)
            want = block.conv3x3(resized)[0]
            assert (got[b] - want).abs().max().item() < 1e-6
