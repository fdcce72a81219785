"""``zoo predict`` and ``zoo.predict`` on scikit-learn's digits written as PNG files: the
predictions equal the model's own on the tensors, with the checkpoint's preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
from zoo.checkpoint import Preprocessing, write_checkpoint
from zoo.cli import main
from zoo.target import resolve_model

N = 24


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A checkpoint of a digits classifier (written through zoo.checkpoint, as zoo train
    writes it), N validation images as PNG files, and the model's answers on their tensors."""
    from PIL import Image

    from zoo.train import load_data

    folder = tmp_path_factory.mktemp("predict")
    data = load_data("digits")
    spec = resolve_model("cnf8 m r16").with_data(num_classes=10, channels=1)
    torch.manual_seed(0)
    model = spec.build()
    with torch.no_grad():  # a few steps, so that the answers are not all one class
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        pre = Preprocessing.from_data(data)
        for _ in range(15):
            with torch.enable_grad():
                x = pre.normalize(data.train.images[:200])
                loss = torch.nn.functional.cross_entropy(model(x), data.train.labels[:200])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    (folder / "runs" / "digits8").mkdir(parents=True)
    path = write_checkpoint(folder / "runs" / "digits8" / "best.pt", model, spec=spec, preprocessing=pre,
                            name="digits8")
    images = folder / "images"
    images.mkdir()
    for i in range(N):
        Image.fromarray(data.val.images[i, 0].numpy()).save(images / f"{i:03d}.png")
    model.eval()
    with torch.no_grad():
        probabilities = model(pre.normalize(data.val.images[:N])).softmax(dim=1)
    return path, images, probabilities, data.val.labels[:N]


def test_zoo_predict_equals_the_model_on_the_tensors(digits):
    path, images, probabilities, labels = digits
    predictions = zoo.predict(path, images, top_k=3, batch=5)
    assert [p.source for p in predictions] == [str(images / f"{i:03d}.png") for i in range(N)]
    expected = probabilities.topk(3, dim=1)
    assert [[c for c, _ in p.top] for p in predictions] == [[str(i) for i in row] for row in expected.indices.tolist()]
    got = torch.tensor([[q for _, q in p.top] for p in predictions])
    assert torch.allclose(got, expected.values, atol=1e-6)
    assert sum(p.label == str(int(y)) for p, y in zip(predictions, labels)) > N // 2  # it has learnt something
    assert all(p.notes == [] for p in predictions)  # 8x8 already: nothing resized


def test_the_command_prints_a_table_or_json(digits, capsys, monkeypatch):
    path, images, probabilities, _ = digits
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["predict", str(path), str(images / "00*.png"), "--json", "--top-k", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["image"] for row in rows] == [str(images / f"{i:03d}.png") for i in range(10)]
    assert [row["top"][0]["class"] for row in rows] == [str(i) for i in probabilities[:10].argmax(1).tolist()]
    assert main(["predict", str(path), str(images / "000.png"), str(images / "001.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].strip() == "digits8: 2 images"
    first = probabilities[0].max().item()
    assert f"│ {images / '000.png'}" in lines[4] and f"{first:.3f} │" in lines[4]


def test_images_of_another_size_are_resized_with_a_note(digits, tmp_path):
    from PIL import Image

    path, images, _, _ = digits
    Image.open(images / "000.png").resize((16, 16)).convert("RGB").save(tmp_path / "big.png")
    (prediction,) = zoo.predict(path, tmp_path / "big.png")
    assert prediction.notes == ["resized from 16x16 to 8x8"]


def test_what_cannot_be_read_is_a_zoo_error(digits, tmp_path, capsys):
    path, _, _, _ = digits
    (tmp_path / "not.png").write_text("text")
    with pytest.raises(zoo.errors.DataError, match=r"not\.png: not an image zoo can read"):
        zoo.predict(path, tmp_path / "not.png")
    assert main(["predict", str(path), str(tmp_path / "none*.png")]) == 1
    assert capsys.readouterr().err == f"zoo: error: {tmp_path / 'none*.png'}: no file matches this pattern\n"
    assert main(["predict", str(Path(path).parent / "history.json"), "x.png"]) == 1
