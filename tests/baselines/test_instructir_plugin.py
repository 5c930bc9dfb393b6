"""The instructir plugin: image model, text head and a tiny random sentence encoder of the
bge-micro-v2 architecture (built here, never downloaded) through the CLI; canonical and
paraphrased instructions; exact parameters; refusals by name and by the publisher's hashes."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import transformers
from typer.testing import CliRunner

from baselines.instructir.restorer import (
    INSTRUCTIONS,
    InstructIRRestorer,
    SentenceEncoder,
    instruction_for,
)
from harness.checkpoints import CheckpointMismatchError, ChecksumMismatchError
from harness.cli import app
from harness.complexity import measure
from harness.errors import MissingFileError
from harness.restorer import ImageBatch
from harness.store import Store
from harness.weights import add_weights, manifest_entries
from tests.baselines.keyfiles import read_key_file
from tests.baselines.synthetic_weights import parameter_count, synthetic_state_dict

# BASELINES.md section 1 (InstructIR row): parameters, publisher-side hashes; section 2: GMACs
IMAGE, HEAD = 15_843_363, 100_359
IMAGE_BLOB = "fdeec1492a2ea4a84200a7b05ca89168b6198bdb"
HEAD_BLOB = "965cec632a4f5b147996cf13cd66de928181878e"
HEAD_SHA256 = "b239e5d5dbc811813a90e709f9647dead0e35a96a294a7d6c5263da549016fe6"
GMACS_256 = 16.2


def _tiny_encoder(folder: Path) -> None:
    """A randomly initialised BERT of bge-micro-v2's kind (384-d, one small layer), with a
    word-level vocabulary covering the instructions."""
    words = sorted({w.strip(".,").lower() for s in INSTRUCTIONS.values() for w in s.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", *words]
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(
        vocab_file=str(folder / "vocab.txt"), model_max_length=64
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(7)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=384,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    transformers.BertModel(config).save_pretrained(folder, safe_serialization=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("instructir")
    image = synthetic_state_dict(read_key_file("instructir_7d_image").entries, seed=401, gain=0.5)
    head = synthetic_state_dict(read_key_file("instructir_7d_lmhead").entries, seed=402, gain=0.5)
    torch.save(image, root / "im.pt")
    torch.save(head, root / "lm.pt")
    _tiny_encoder(root / "encoder")
    return {"image": root / "im.pt", "head": root / "lm.pt", "encoder": root / "encoder"}


@pytest.fixture(scope="module")
def restorer(files) -> InstructIRRestorer:
    return InstructIRRestorer(
        weights=str(files["image"]), text_head=str(files["head"]), encoder=str(files["encoder"])
    )


def _options(files: dict[str, Path]) -> list[str]:
    return ["--option", f"text_head={files['head']}", "--option", f"encoder={files['encoder']}"]


def test_synthetic_files_have_the_key_files_keys_shapes_and_dtypes(files) -> None:
    for name, key_file, count in (
        ("image", "instructir_7d_image", IMAGE),
        ("head", "instructir_7d_lmhead", HEAD),
    ):
        entries = read_key_file(key_file).entries
        state = torch.load(files[name], weights_only=True)
        assert [(k, tuple(v.shape), v.dtype) for k, v in state.items()] == [
            (e.key, e.shape, e.dtype) for e in entries
        ]
        assert parameter_count(entries) == count


def test_sentence_embedding_is_the_normalised_mean_of_the_token_states(files) -> None:
    encoder = SentenceEncoder(files["encoder"], "cpu")
    sentence = INSTRUCTIONS["dehaze"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(files["encoder"])
    model = transformers.AutoModel.from_pretrained(files["encoder"]).eval()
    tokens = tokenizer(sentence, return_tensors="pt")
    assert (tokens["input_ids"] != tokenizer.unk_token_id).all()  # every word is known
    with torch.no_grad():
        states = model(**tokens).last_hidden_state[0]
    want = states.mean(0) / states.mean(0).norm()
    assert torch.allclose(encoder(sentence)[0], want, atol=1e-6)


def test_restore_follows_the_canonical_instruction_of_the_task(restorer, files) -> None:
    head = torch.load(files["head"], weights_only=True)
    encoder = SentenceEncoder(files["encoder"], "cpu")
    x = torch.rand(2, 3, 13, 21, generator=torch.Generator().manual_seed(3))
    out = restorer.restore(ImageBatch(images=x, ids=("a", "b"), task="derain"))
    sentence = encoder("Remove the rain from this image.")
    instruction = F.normalize(sentence @ head["fc1.weight"].T + head["fc1.bias"], dim=1)
    with torch.inference_mode():
        want = restorer.module()(x, instruction.expand(2, -1)).clamp(0, 1)
    assert torch.allclose(out, want, atol=1e-6)
    brightened = restorer.restore(ImageBatch(images=x, ids=("a", "b"), task="lowlight"))
    assert (brightened - out).abs().max() > 1e-6  # another task, another instruction
    info = restorer.provenance()
    assert info["instructions"]["derain"] == "Remove the rain from this image."
    assert info["paraphrase"] is False
    assert info["text_head_sha256"] == hashlib.sha256(files["head"].read_bytes()).hexdigest()
    assert info["sentence_encoder"]["folder"] == str(files["encoder"])


def test_paraphrases_are_drawn_by_image_id_never_by_order(files, restorer) -> None:
    canonical = restorer
    ids = tuple(f"img-{i}" for i in range(12))
    drawn = [instruction_for("deblur", i, 5, paraphrase=True) for i in ids]
    assert len(set(drawn)) > 1 and all("blur" in d for d in drawn)
    assert drawn == [instruction_for("deblur", i, 5, paraphrase=True) for i in ids]
    assert {instruction_for("deblur", i, 5, paraphrase=False) for i in ids} == {
        "Remove the blur from this image."
    }
    restorer = InstructIRRestorer(
        weights=str(files["image"]),
        text_head=str(files["head"]),
        encoder=str(files["encoder"]),
        paraphrase=True,
    )
    x = torch.rand(12, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    forward = restorer.restore(ImageBatch(images=x, ids=ids, task="deblur", seed=5))
    backward = restorer.restore(ImageBatch(images=x.flip(0), ids=ids[::-1], task="deblur", seed=5))
    assert torch.allclose(forward, backward.flip(0), atol=1e-6)
    plain = canonical.restore(ImageBatch(images=x, ids=ids, task="deblur", seed=5))
    assert (plain - forward).abs().max() > 1e-6  # some images got another sentence
    assert canonical.provenance()["paraphrase"] is False
    assert restorer.provenance()["paraphrase"] is True


def test_run_through_the_cli_on_the_mini_suite(files, tmp_path) -> None:
    store = tmp_path / "s.sqlite"
    args = ["-q", "--device", "cpu", "run", "--method", "instructir"]
    args += ["--weights", str(files["image"]), *_options(files), "--suite", "mini"]
    args += ["--limit", "1", "--no-report", "--no-flops", "--workers", "0"]
    result = CliRunner().invoke(app, [*args, "--store", str(store)])
    assert result.exit_code == 0, result.output
    with Store(store, readonly=True) as s:
        (run,) = s.runs()
        benches = s.benchmarks([run["run_id"]])
    prov = run["provenance"]
    assert prov["weights_sha256"] == hashlib.sha256(files["image"].read_bytes()).hexdigest()
    assert prov["instructions"]["lowlight"] == INSTRUCTIONS["lowlight"]
    assert len(benches) == 7 and all(b["complexity"]["params"] == IMAGE for b in benches)


def test_check_passes_with_the_tiny_encoder(files) -> None:
    args = ["--device", "cpu", "check", "instructir", "--weights", str(files["image"])]
    result = CliRunner().invoke(app, [*args, *_options(files)])
    assert result.exit_code == 0, result.output
    assert "contract passed" in result.output and "not blind" in result.output


def test_complexity_counts_exact_params_and_the_published_macs() -> None:
    restorer = InstructIRRestorer(random_init=True)  # no encoder: random sentence vectors
    report = measure(restorer, [(256, 256)], repeats=0, memory=False).to_dict()
    assert report["params"] == IMAGE
    assert report["params_detail"] == {
        "image model": IMAGE,
        "text head": HEAD,
        "used at inference": IMAGE + HEAD,
    }
    assert round(report["sizes"][0]["macs_per_image"] / 1e9, 1) == GMACS_256
    assert "text path" in report["flops_not_counted"][0]


def test_complexity_cli_falls_back_to_random_init_and_shows_the_counts() -> None:
    args = ["--device", "cpu", "complexity", "instructir", "--size", "16x16", "--repeats", "0"]
    result = CliRunner().invoke(app, [*args, "--warmup", "0"])
    assert result.exit_code == 0, result.output
    assert f"params: {IMAGE:,}" in result.output
    assert f"used at inference: {IMAGE + HEAD:,}" in result.output
    assert "measured with random init" in result.output


def test_missing_encoder_says_what_to_download_and_where(files, tmp_path) -> None:
    folder = tmp_path / "nowhere"
    with pytest.raises(MissingFileError) as info:
        InstructIRRestorer(random_init=True, encoder=str(folder))
    text = str(info.value)
    assert str(folder) in text and "TaylorAI/bge-micro-v2" in text and "config.json" in text


def test_wrong_checkpoints_are_refused_by_name(files, tmp_path) -> None:
    torch.save(
        {"R.head.0.weight": torch.zeros(2), "E.E.encoder_q.w": torch.zeros(2)}, tmp_path / "a.pt"
    )
    with pytest.raises(CheckpointMismatchError, match="holds AirNet weights, not InstructIR"):
        InstructIRRestorer(weights=str(tmp_path / "a.pt"), random_init=False)
    with pytest.raises(CheckpointMismatchError, match="text head"):
        InstructIRRestorer(random_init=True, text_head=str(files["image"]), encoder="/nonexistent")
    assert InstructIRRestorer.inspect_weights(files["head"]) == "7d"
    assert InstructIRRestorer.inspect_weights(files["image"]) == "7d"


def test_manifest_pins_the_publishers_hashes_and_the_7task_setting() -> None:
    entries = {e.name: e for e in manifest_entries("instructir")}
    image, head = entries["instructir-7d"], entries["instructir-7d-text-head"]
    assert (image.file, image.git_blob_sha1, image.default) == (
        "im_instructir-7d.pt",
        IMAGE_BLOB,
        True,
    )
    assert (head.file, head.git_blob_sha1, head.sha256) == (
        "lm_instructir-7d.pt",
        HEAD_BLOB,
        HEAD_SHA256,
    )
    assert head.size == 403_275 and len(image.setting.tasks) == 7


@pytest.mark.parametrize(
    ("which", "name", "blob"),
    [("head", "lm_instructir-7d.pt", HEAD_BLOB), ("image", "im_instructir-7d.pt", IMAGE_BLOB)],
)
def test_files_that_are_not_the_published_ones_are_refused_on_add(
    files, tmp_path, which, name, blob
) -> None:
    renamed = tmp_path / name
    renamed.write_bytes(files[which].read_bytes())
    own = subprocess.run(
        ["git", "hash-object", "--no-filters", str(renamed)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with pytest.raises(ChecksumMismatchError) as info:
        add_weights("instructir", renamed)
    assert blob in str(info.value) and own in str(info.value)


def test_complexity_and_check_pass_options_to_the_method() -> None:
    for verb in (["complexity", "instructir"], ["check", "instructir"]):
        result = CliRunner().invoke(app, ["--device", "cpu", *verb, "--option", "bogus=1"])
        assert result.exit_code != 0
        assert "unknown instructir option(s): bogus" in str(result.exception)
