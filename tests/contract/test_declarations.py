"""What a method declares on its class (params, options, weights) is what it does and what ls shows."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from baselines.diffuir.network import build_unet
from harness import registry
from harness.cli import app
from harness.complexity import count_parameters
from harness.errors import HarnessError
from harness.restorer import Option
from harness.weights import manifest_path

SHIPPED = [
    "airnet",
    "dcp",
    "diffuir",
    "identity",
    "instructir",
    "lime",
    "median",
    "richardson-lucy",
]


@pytest.mark.parametrize("name", SHIPPED)
def test_declarations_are_consistent(name: str) -> None:
    cls = registry.method_class(name)
    assert set(cls.params) == set(cls.variants)
    assert all(isinstance(spec, Option) for spec in cls.option_specs.values())
    # a method that loads no weights ships no weights manifest, and one that does, does
    assert manifest_path(cls).is_file() == cls.loads_weights


@pytest.mark.parametrize("name", ["dcp", "identity", "lime", "median", "richardson-lucy"])
def test_declared_options_are_accepted_and_others_refused(name: str) -> None:
    cls = registry.method_class(name)
    defaults = {k: spec.default for k, spec in cls.option_specs.items() if spec.default is not None}
    assert registry.create_method(name, **defaults).options == defaults
    with pytest.raises(HarnessError, match=f"unknown {name} option") as info:
        registry.create_method(name, not_an_option=1)
    assert info.value.hint == f"{name} options: {', '.join(cls.option_specs) or '(none)'}"


def test_declared_option_defaults_are_the_ones_used() -> None:
    from baselines.classical.dark_channel import DarkChannelPrior
    from baselines.classical.deconvolution import RichardsonLucy
    from baselines.classical.lime import LIME
    from baselines.classical.median import MedianFilter

    dcp, rl, lime, median = DarkChannelPrior(), RichardsonLucy(), LIME(), MedianFilter()
    specs = DarkChannelPrior.option_specs
    assert (dcp.patch, dcp.omega, dcp.t0) == tuple(
        specs[k].default for k in ("patch", "omega", "t0")
    )
    assert (dcp.top_fraction, dcp.gf_radius, dcp.gf_eps) == tuple(
        specs[k].default for k in ("top_fraction", "gf_radius", "gf_eps")
    )
    specs = RichardsonLucy.option_specs
    assert (rl.sigma, rl.iterations) == (specs["sigma"].default, specs["iterations"].default)
    specs = LIME.option_specs
    assert (lime.alpha, lime.gamma, lime.eps, lime.floor) == tuple(
        specs[k].default for k in ("alpha", "gamma", "eps", "floor")
    )
    assert median.size == MedianFilter.option_specs["size"].default


def test_ls_methods_shows_the_declarations() -> None:
    rows = {
        r["name"]: r
        for r in json.loads(CliRunner().invoke(app, ["ls", "methods", "--json"]).output)
    }
    diffuir = rows["diffuir"]
    assert diffuir["loads_weights"] is True and rows["identity"]["loads_weights"] is False
    assert set(diffuir["options"]) == {"steps", "ema", "random_init", "precision"}
    assert diffuir["options"]["ema"] == {
        "type": "bool",
        "default": True,
        "help": "load the EMA weights of a training checkpoint (else raw ones)",
    }
    assert diffuir["params"]["t"] == count_parameters(build_unet("t"))
    text = CliRunner().invoke(app, ["ls", "methods"]).output
    assert "options: size; loads no weights" in text
