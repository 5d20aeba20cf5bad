"""Cascade XML files in OpenCV's format: ``cascade.xml``, ``params.xml``, ``stageN.xml``.

* :func:`write_cascade` writes the "new" cascade format that ``cv2.CascadeClassifier``
  loads (what ``opencv_traincascade`` writes): only the features the stages use, in table
  order, with node indices renumbered accordingly.
* :func:`write_params` / :func:`write_stage` write the files ``opencv_traincascade`` keeps
  in its ``-data`` folder to resume training; stage files index the full feature
  enumeration of the params' window and mode.
* The readers take all three back, plus OpenCV's old ``opencv-haar-classifier`` format
  (converted to the new structure; the detector's new-format semantics then apply).

Reals are written as OpenCV does (``%.16e``), so the float32 thresholds and leaf values
round-trip exactly; every write is atomic. Malformed files raise ``ValueError`` naming
the file and line.

The readers treat every file as untrusted: no DTD or entity is accepted (so nothing is
expanded or fetched), elements are OpenCV maps (uniquely named children) or sequences
(``<_>`` items), integers are decimal and fit OpenCV's 32-bit ``int``, reals are
finite, and the whole cascade is checked (feature indices, counts, rectangles inside
the window) before :func:`~fer_toolkit.detection.haar.load_cascade` lets OpenCV load it.
"""

from __future__ import annotations

import os
import re
import xml.parsers.expat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.fileio import atomic_write
from ..utils.validation import InputError
from .features import HaarFeatures, LBPFeatures, _haar_fits
from .model import Cascade, CascadeParams, FeatureParams, Stage, StageParams, WeakTree

__all__ = [
    "read_cascade",
    "read_params",
    "read_stage",
    "write_cascade",
    "write_params",
    "write_stage",
]

_HEADER = '<?xml version="1.0"?>\n<opencv_storage>\n'
#: OpenCV reads integers into a C ``int``.
_INT_RANGE = (-(2**31), 2**31 - 1)
_INT = re.compile(r"[+-]?[0-9]+")
_REAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: Larger files are not cascades (OpenCV's biggest stock cascade is about 2.6 MB).
MAX_XML_BYTES = 64 * 2**20
_FOOTER = "</opencv_storage>\n"


# --- writing -----------------------------------------------------------------------


def _real(value) -> str:
    """OpenCV's format for reals; exact for float32 and float64 values."""
    return f"{float(value):.16e}"


def _weight(value) -> str:
    """Rectangle weights as OpenCV writes them: ``-1.``, ``2.``, or ``%.16e``."""
    value = float(value)
    return f"{int(value)}." if value.is_integer() else _real(value)


def _element_name(path: Path) -> str:
    """OpenCV's ``FileStorage::getDefaultObjectName``: the file stem as an XML name."""
    stem = path.name.rpartition(".")[0] or path.name
    name = re.sub(r"[^A-Za-z0-9_-]", "_", stem)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def _params_lines(params: CascadeParams, indent: str) -> list[str]:
    sp = params.stage_params
    lines = [
        f"{indent}<stageType>BOOST</stageType>",
        f"{indent}<featureType>{params.feature_type}</featureType>",
        f"{indent}<height>{params.height}</height>",
        f"{indent}<width>{params.width}</width>",
        f"{indent}<stageParams>",
        f"{indent}  <boostType>{sp.boost_type}</boostType>",
        f"{indent}  <minHitRate>{_real(sp.min_hit_rate)}</minHitRate>",
        f"{indent}  <maxFalseAlarm>{_real(sp.max_false_alarm_rate)}</maxFalseAlarm>",
        f"{indent}  <weightTrimRate>{_real(sp.weight_trim_rate)}</weightTrimRate>",
        f"{indent}  <maxDepth>{sp.max_depth}</maxDepth>",
        f"{indent}  <maxWeakCount>{sp.max_weak_count}</maxWeakCount></stageParams>",
        f"{indent}<featureParams>",
        f"{indent}  <maxCatCount>{params.feature_params.max_cat_count}</maxCatCount>",
        f"{indent}  <featSize>{params.feature_params.feat_size}</featSize>",
    ]
    if params.mode is not None:
        lines.append(f"{indent}  <mode>{params.mode}</mode>")
    lines[-1] += "</featureParams>"
    return lines


def _tree_text(tree: WeakTree) -> tuple[str, str]:
    records = []
    for record in tree.nodes:
        head = " ".join(str(int(v)) for v in record[:3])
        tail = (
            _real(np.float32(record[3]))
            if not tree.categorical
            else " ".join(str(int(v)) for v in record[3:])
        )
        records.append(f"{head} {tail}")
    return " ".join(records), " ".join(_real(v) for v in tree.leaf_values)


def _stage_lines(stage: Stage, indent: str) -> list[str]:
    lines = [
        f"{indent}<maxWeakCount>{len(stage.weak)}</maxWeakCount>",
        f"{indent}<stageThreshold>{_real(stage.threshold)}</stageThreshold>",
        f"{indent}<weakClassifiers>",
    ]
    for tree in stage.weak:
        nodes, leaves = _tree_text(tree)
        lines += [
            f"{indent}  <_>",
            f"{indent}    <internalNodes>{nodes}</internalNodes>",
            f"{indent}    <leafValues>{leaves}</leafValues></_>",
        ]
    lines[-1] += "</weakClassifiers>"
    return lines


def _feature_lines(features, indent: str) -> list[str]:
    lines = [f"{indent}<features>"]
    if isinstance(features, LBPFeatures):
        for x, y, w, h in features.rects:
            lines.append(f"{indent}  <_>\n{indent}    <rect>{x} {y} {w} {h}</rect></_>")
    else:
        for rects, weights, tilted in zip(
            features.rects, features.weights, features.tilted, strict=True
        ):
            lines.append(f"{indent}  <_>\n{indent}    <rects>")
            for (x, y, w, h), weight in zip(rects, weights, strict=True):
                if weight != 0:
                    lines.append(f"{indent}      <_>{x} {y} {w} {h} {_weight(weight)}</_>")
            lines[-1] += "</rects>"
            lines.append(f"{indent}    <tilted>{int(tilted)}</tilted></_>")
    lines[-1] += "</features>"
    return lines


_CASCADE_ATTRS = ' type_id="opencv-cascade-classifier"'


def _document(name: str, name_attrs: str, body: list[str]) -> str:
    body = list(body)
    body[-1] += f"</{name}>"
    return _HEADER + f"<{name}{name_attrs}>\n" + "\n".join(body) + "\n" + _FOOTER


def _write(path, name_attrs: str, body: list[str]) -> None:
    path = Path(path)
    with atomic_write(path, encoding="ascii", newline="\n") as f:
        f.write(_document(_element_name(path), name_attrs, body))


def write_cascade(cascade: Cascade, path: str | os.PathLike) -> None:
    """Write a cascade XML that ``cv2.CascadeClassifier`` loads (atomically).

    Only the features the stages use are written, renumbered in table order (as
    ``opencv_traincascade`` does).

    Parameters
    ----------
    cascade : Cascade
        At least one stage.
    path : str or os.PathLike
        Usually ``<data>/cascade.xml``.

    Raises
    ------
    ValueError
        If the cascade has no stage (OpenCV cannot load such a file).

    Examples
    --------
    >>> import os, tempfile, cv2
    >>> from fer_toolkit.cascade import (Cascade, Stage, StageParams, WeakTree,
    ...                                  haar_features, write_cascade)
    >>> stage = Stage(threshold=-0.5, weak=[WeakTree.stump(5, 0.01, -1.0, 1.0)])
    >>> cascade = Cascade(width=12, height=12, feature_type="HAAR", mode="BASIC",
    ...                   stage_params=StageParams(), stages=[stage],
    ...                   features=haar_features(12, 12))
    >>> path = os.path.join(tempfile.mkdtemp(), "cascade.xml")
    >>> write_cascade(cascade, path)
    >>> cv2.CascadeClassifier(path).getOriginalWindowSize()
    (12, 12)
    """
    _write(path, _CASCADE_ATTRS, _cascade_lines(cascade))


def _cascade_document(cascade: Cascade) -> str:
    """The text :func:`write_cascade` writes, with the top element named ``cascade``
    (what ``cv2.FileStorage`` reads from memory)."""
    return _document("cascade", _CASCADE_ATTRS, _cascade_lines(cascade))


def _cascade_lines(cascade: Cascade) -> list[str]:
    if not isinstance(cascade, Cascade):
        raise TypeError(f"cascade must be a Cascade; got {type(cascade).__name__}.")
    if not cascade.stages:
        raise InputError("a cascade needs at least one stage to be written.")
    compact = cascade.compact()
    body = _params_lines(compact.params, "  ")
    body.append(f"  <stageNum>{len(compact.stages)}</stageNum>")
    body.append("  <stages>")
    for s, stage in enumerate(compact.stages):
        body.append(f"    <!-- stage {s} -->")
        body.append("    <_>")
        body += _stage_lines(stage, "      ")
        body[-1] += "</_>"
    body[-1] += "</stages>"
    body += _feature_lines(compact.features, "  ")
    return body


def write_params(params: CascadeParams, path: str | os.PathLike) -> None:
    """Write ``params.xml`` as ``opencv_traincascade`` does (atomically).

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cascade import CascadeParams, read_params, write_params
    >>> path = os.path.join(tempfile.mkdtemp(), "params.xml")
    >>> write_params(CascadeParams(width=24, height=24, mode="BASIC"), path)
    >>> read_params(path).mode
    'BASIC'
    """
    if not isinstance(params, CascadeParams):
        raise TypeError(f"params must be CascadeParams; got {type(params).__name__}.")
    _write(path, "", _params_lines(params, "  "))


def write_stage(stage: Stage, path: str | os.PathLike) -> None:
    """Write one ``stageN.xml`` as ``opencv_traincascade`` does (atomically).

    Feature indices are written as they are: indices into the full feature enumeration
    of the training's ``params.xml``.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cascade import Stage, WeakTree, read_stage, write_stage
    >>> path = os.path.join(tempfile.mkdtemp(), "stage0.xml")
    >>> stage = Stage(threshold=-0.25, weak=[WeakTree.stump(123, 0.5, -1.0, 1.0)])
    >>> write_stage(stage, path)
    >>> read_stage(path) == stage
    True
    """
    if not isinstance(stage, Stage):
        raise TypeError(f"stage must be a Stage; got {type(stage).__name__}.")
    _write(path, "", _stage_lines(stage, "  "))


# --- reading -----------------------------------------------------------------------


@dataclass
class _Node:
    """An XML element with the line it starts on."""

    tag: str
    attrs: dict
    line: int
    children: list[_Node] = field(default_factory=list)
    text: str = ""


class _Reader:
    """Parse an OpenCV XML file and report errors with the file name and line."""

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            size = os.path.getsize(self.path)
            if size > MAX_XML_BYTES:
                raise InputError(
                    f"{self.path}: {size} bytes is too large for a cascade XML file "
                    f"(at most {MAX_XML_BYTES})."
                )
            data = Path(self.path).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"cascade file {self.path!r} does not exist.") from None
        except IsADirectoryError:
            raise InputError(f"{self.path!r} is a directory, not a cascade XML file.") from None
        parser = xml.parsers.expat.ParserCreate()
        stack = [_Node("", {}, 0)]

        def refuse_dtd(*args):
            # Entities could expand to gigabytes ("billion laughs") or name other files.
            raise InputError(
                f"{self.path}, line {parser.CurrentLineNumber}: a DTD (<!DOCTYPE ...>) or "
                "entity declaration; OpenCV XML files have none, and they are not read."
            )

        def start(tag, attrs):
            node = _Node(tag, attrs, parser.CurrentLineNumber)
            stack[-1].children.append(node)
            stack.append(node)

        def end(tag):
            stack.pop()

        def text(data):
            stack[-1].text += data

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = text
        parser.StartDoctypeDeclHandler = refuse_dtd
        parser.EntityDeclHandler = refuse_dtd
        parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        try:
            parser.Parse(data, True)
        except xml.parsers.expat.ExpatError as exc:
            raise InputError(
                f"{self.path}, line {exc.lineno}: not well-formed XML "
                f"({xml.parsers.expat.ErrorString(exc.code)})."
            ) from None
        storage = stack[0].children
        if len(storage) != 1 or storage[0].tag != "opencv_storage" or not storage[0].children:
            raise InputError(f"{self.path}: not an OpenCV XML file (no <opencv_storage> node).")
        self._check_structure(storage[0])
        self.root = storage[0].children[0]

    def _check_structure(self, top: _Node) -> None:
        """Every element is a map (uniquely named children) or a sequence (``<_>`` items).

        OpenCV reads the file with its own parser; a repeated name would let it pick
        another element than the one checked here.
        """
        pending = [top]
        while pending:
            node = pending.pop()
            names = [child.tag for child in node.children]
            items = names.count("_")
            if items and items != len(names):
                raise self.fail(node, f"<{node.tag}> mixes <_> items and named elements.")
            if not items and len(set(names)) != len(names):
                repeated = next(name for name in names if names.count(name) > 1)
                raise self.fail(node, f"<{node.tag}> has more than one <{repeated}> element.")
            pending.extend(node.children)

    def fail(self, node: _Node, message: str):
        return InputError(f"{self.path}, line {node.line}: {message}")

    def child(self, node: _Node, tag: str, *, required: bool = True) -> _Node | None:
        for c in node.children:
            if c.tag == tag:
                return c
        if required:
            raise self.fail(node, f"<{node.tag}> has no <{tag}> element.")
        return None

    def tokens(self, node: _Node, tag: str | None = None, *, count: int | None = None):
        node = node if tag is None else self.child(node, tag)
        values = node.text.split()
        if count is not None and len(values) != count:
            raise self.fail(node, f"<{node.tag}> holds {len(values)} values; expected {count}.")
        return node, values

    def number(self, node: _Node, tag: str, kind=int, *, default=None):
        if default is not None and self.child(node, tag, required=False) is None:
            return default
        element, (value,) = self.tokens(node, tag, count=1)
        return self.parse(element, value, kind)

    def parse(self, node: _Node, value: str, kind):
        """``value`` as an OpenCV ``int`` (decimal, 32-bit) or a finite real."""
        if kind is int:
            if not _INT.fullmatch(value):
                raise self.fail(node, f"<{node.tag}> value {value[:40]!r} is not an integer.")
            number = int(value)
            if not _INT_RANGE[0] <= number <= _INT_RANGE[1]:
                raise self.fail(
                    node, f"<{node.tag}> value {value[:40]} is out of range for an integer."
                )
            return number
        if not _REAL.fullmatch(value):
            raise self.fail(node, f"<{node.tag}> value {value[:40]!r} is not a number.")
        number = float(value)
        if not np.isfinite(number):
            raise self.fail(node, f"<{node.tag}> value {value[:40]} is not a finite number.")
        return number

    def text(self, node: _Node, tag: str, choices=None) -> str:
        element = self.child(node, tag)
        value = element.text.strip()
        if choices is not None and value not in choices:
            raise self.fail(element, f"<{tag}> is {value!r}; expected one of {choices}.")
        return value

    def wrap(self, node: _Node, what: str, build):
        """Call ``build()``, turning model validation errors into located ones."""
        try:
            return build()
        except (TypeError, ValueError) as exc:
            raise self.fail(node, f"{what}: {exc}") from None


def _read_params(reader: _Reader, node: _Node) -> CascadeParams:
    reader.text(node, "stageType", ("BOOST",))
    feature_type = reader.text(node, "featureType", ("HAAR", "LBP"))
    sp_node = reader.child(node, "stageParams")
    defaults = StageParams()
    stage_params = reader.wrap(
        sp_node,
        "invalid stageParams",
        lambda: StageParams(
            boost_type=(
                reader.text(sp_node, "boostType")
                if reader.child(sp_node, "boostType", required=False)
                else defaults.boost_type
            ),
            min_hit_rate=reader.number(sp_node, "minHitRate", float, default=defaults.min_hit_rate),
            max_false_alarm_rate=reader.number(
                sp_node, "maxFalseAlarm", float, default=defaults.max_false_alarm_rate
            ),
            weight_trim_rate=reader.number(
                sp_node, "weightTrimRate", float, default=defaults.weight_trim_rate
            ),
            max_depth=reader.number(sp_node, "maxDepth", default=defaults.max_depth),
            max_weak_count=reader.number(sp_node, "maxWeakCount", default=defaults.max_weak_count),
        ),
    )
    fp_node = reader.child(node, "featureParams")
    feature_params = FeatureParams(
        max_cat_count=reader.number(fp_node, "maxCatCount"),
        feat_size=reader.number(fp_node, "featSize", default=1),
    )
    mode_node = reader.child(fp_node, "mode", required=False)
    return reader.wrap(
        node,
        "invalid cascade parameters",
        lambda: CascadeParams(
            width=reader.number(node, "width"),
            height=reader.number(node, "height"),
            feature_type=feature_type,
            mode=None if mode_node is None else mode_node.text.strip(),
            stage_params=stage_params,
            feature_params=feature_params,
        ),
    )


def _read_tree(
    reader: _Reader, node: _Node, record: int | None, n_features: int | None, where: str = ""
) -> WeakTree:
    leaves_node, leaves = reader.tokens(node, "leafValues")
    leaves = [reader.parse(leaves_node, v, float) for v in leaves]
    nodes_node, values = reader.tokens(node, "internalNodes")
    k = len(leaves) - 1
    if record is None and k > 0 and len(values) % k == 0:
        record = len(values) // k
    if record is None or k < 1 or len(values) != k * record:
        raise reader.fail(
            nodes_node,
            f"<internalNodes> holds {len(values)} values, which is not {len(leaves) - 1} "
            f"node records (one fewer than the {len(leaves)} leaf values).",
        )
    kinds = [int, int, int] + ([float] if record == 4 else [int] * (record - 3))
    nodes = np.array(
        [
            [reader.parse(nodes_node, values[i * record + j], kinds[j]) for j in range(record)]
            for i in range(k)
        ],
        dtype=np.float64 if record == 4 else np.int64,
    )
    tree = reader.wrap(node, "invalid weak tree", lambda: WeakTree(nodes=nodes, leaf_values=leaves))
    if n_features is not None and tree.feature.max() >= n_features:
        raise reader.fail(
            nodes_node,
            f"{where}a node uses feature {tree.feature.max()}, but <features> has {n_features}.",
        )
    return tree


def _read_stage(
    reader: _Reader, node: _Node, record: int | None, n_features: int | None = None, where=""
) -> Stage:
    trees_node = reader.child(node, "weakClassifiers")
    trees = [
        _read_tree(reader, tree, record, n_features, f"{where}weak classifier {w}: ")
        for w, tree in enumerate(trees_node.children)
    ]
    count = reader.number(node, "maxWeakCount", default=len(trees))
    if count != len(trees):
        raise reader.fail(
            trees_node, f"the stage has {len(trees)} weak classifiers but maxWeakCount {count}."
        )
    threshold = reader.number(node, "stageThreshold", float)
    return reader.wrap(node, "invalid stage", lambda: Stage(threshold=threshold, weak=trees))


def _read_features(reader: _Reader, node: _Node, feature_type: str, window: tuple[int, int]):
    items = reader.child(node, "features").children
    if feature_type == "LBP":
        rects = []
        for item in items:
            element, values = reader.tokens(item, "rect", count=4)
            rects.append([reader.parse(element, v, int) for v in values])
        return reader.wrap(
            node,
            "invalid features",
            lambda: LBPFeatures(rects=rects if rects else np.zeros((0, 4))),
        )
    return _haar_table([_read_haar_feature(reader, item, window) for item in items])


def _read_haar_feature(reader: _Reader, node: _Node, window: tuple[int, int]):
    """``(rects (3, 4), weights (3,), tilted)`` of a ``<rects>`` + ``<tilted>`` node.

    Every rectangle listed must lie inside the ``(width, height)`` window, even one
    of weight 0 (OpenCV computes its corners all the same).
    """
    rects_node = reader.child(node, "rects")
    if not 1 <= len(rects_node.children) <= 3:
        raise reader.fail(
            rects_node, f"a Haar feature has 1-3 rectangles; got {len(rects_node.children)}."
        )
    rects = np.zeros((3, 4), dtype=np.int64)
    weights = np.zeros(3)
    for j, rect in enumerate(rects_node.children):
        element, values = reader.tokens(rect, count=5)
        rects[j] = [reader.parse(element, v, int) for v in values[:4]]
        weights[j] = reader.parse(element, values[4], float)
    tilted = reader.number(node, "tilted", default=0) != 0
    listed = len(rects_node.children)
    fits = _haar_fits(rects[:listed], np.full(listed, tilted), *window)
    if not fits.all():
        j = int(np.flatnonzero(~fits)[0])
        raise reader.fail(
            rects_node.children[j],
            f"{'tilted ' if tilted else ''}rectangle {rects[j].tolist()} does not fit the "
            f"{window[0]}x{window[1]} window.",
        )
    return rects, weights, tilted


def _haar_table(features: list) -> HaarFeatures:
    rects, weights, tilted = zip(*features, strict=True) if features else ((), (), ())
    return HaarFeatures(
        rects=np.array(rects, dtype=np.int64).reshape(-1, 3, 4),
        weights=np.array(weights).reshape(-1, 3),
        tilted=np.array(tilted, dtype=bool),
    )


def _read_new_cascade(reader: _Reader) -> Cascade:
    root = reader.root
    params = _read_params(reader, root)
    record = (
        4 if params.feature_type == "HAAR" else 3 + (params.feature_params.max_cat_count + 31) // 32
    )
    stages_node = reader.child(root, "stages")
    features = _read_features(reader, root, params.feature_type, (params.width, params.height))
    stages = [
        _read_stage(reader, node, record, len(features), f"stage {s}, ")
        for s, node in enumerate(stages_node.children)
    ]
    count = reader.number(root, "stageNum", default=len(stages))
    if count != len(stages):
        raise reader.fail(stages_node, f"<stageNum> is {count} but there are {len(stages)} stages.")
    return reader.wrap(
        root,
        "invalid cascade",
        lambda: Cascade.from_params(params, stages, features),
    )


def _read_old_cascade(reader: _Reader) -> Cascade:
    """Convert OpenCV's old ``opencv-haar-classifier`` format to the new structure.

    Each old node carries its own feature; trees are renumbered breadth-first with leaves
    numbered in visiting order, as ``opencv_traincascade`` numbers them.
    """
    root = reader.root
    size_node, size = reader.tokens(root, "size", count=2)
    width, height = (reader.parse(size_node, v, int) for v in size)
    features, stages = [], []
    for stage_node in reader.child(root, "stages").children:
        trees = []
        for tree_node in reader.child(stage_node, "trees").children:
            old = tree_node.children
            records, leaves = [], []
            queue, index = deque([0]), {0: 0}
            while queue:
                node = old[queue.popleft()]
                feature = reader.child(node, "feature")
                features.append(_read_haar_feature(reader, feature, (width, height)))
                children = []
                for side in ("left", "right"):
                    if reader.child(node, f"{side}_node", required=False) is not None:
                        target = reader.number(node, f"{side}_node")
                        if not 0 < target < len(old) or target in index:
                            raise reader.fail(node, f"invalid <{side}_node> {target}.")
                        index[target] = len(index)
                        queue.append(target)
                        children.append(index[target])
                    else:
                        leaves.append(reader.number(node, f"{side}_val", float))
                        children.append(1 - len(leaves))
                threshold = reader.number(node, "threshold", float)
                records.append([*children, len(features) - 1, threshold])
            trees.append(
                reader.wrap(
                    tree_node,
                    "invalid tree",
                    lambda r=records, v=leaves: WeakTree(nodes=r, leaf_values=v),
                )
            )
        threshold = reader.number(stage_node, "stage_threshold", float)
        stages.append(
            reader.wrap(
                stage_node, "invalid stage", lambda t=threshold, w=trees: Stage(threshold=t, weak=w)
            )
        )
    table = _haar_table(features)
    return reader.wrap(
        root,
        "invalid cascade",
        lambda: Cascade(
            width=width,
            height=height,
            feature_type="HAAR",
            mode=None,
            stages=stages,
            features=table,
        ),
    )


def read_cascade(path: str | os.PathLike) -> Cascade:
    """Read a cascade XML: the new format, or OpenCV's old ``opencv-haar-classifier``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Cascade
        With the file's own feature table and numbering.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a valid cascade; the message names the file and line.

    Examples
    --------
    >>> import cv2
    >>> from fer_toolkit.cascade import read_cascade
    >>> cascade = read_cascade(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    >>> cascade.width, cascade.height, len(cascade.stages), len(cascade.features)
    (24, 24, 25, 2913)
    """
    reader = _Reader(path)
    old = reader.root.attrs.get("type_id") == "opencv-haar-classifier"
    if old or reader.child(reader.root, "size", required=False) is not None:
        return _read_old_cascade(reader)
    return _read_new_cascade(reader)


def read_params(path: str | os.PathLike) -> CascadeParams:
    """Read ``params.xml`` (or the parameters of a cascade XML).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    CascadeParams
        Stage parameters missing from the file (OpenCV's stock cascades keep only
        ``maxWeakCount``) take ``opencv_traincascade``'s defaults.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_cascade`.

    Examples
    --------
    >>> import cv2
    >>> from fer_toolkit.cascade import read_params
    >>> params = read_params(cv2.data.haarcascades + "haarcascade_frontalcatface_extended.xml")
    >>> params.width, params.mode, params.stage_params.boost_type
    (24, 'ALL', 'GAB')
    """
    reader = _Reader(path)
    return _read_params(reader, reader.root)


def read_stage(path: str | os.PathLike) -> Stage:
    """Read one ``stageN.xml`` (see :func:`write_stage` for an example).

    Parameters
    ----------
    path : str or os.PathLike
        The stage file.

    Returns
    -------
    Stage
        Node records are Haar or LBP ones according to their length.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_cascade`.

    Examples
    --------
    >>> import os, tempfile
    >>> from fer_toolkit.cascade import Stage, WeakTree, read_stage, write_stage
    >>> path = os.path.join(tempfile.mkdtemp(), "stage0.xml")
    >>> write_stage(Stage(threshold=-0.5, weak=[WeakTree.stump(7, 0.25, -1.0, 1.0)]), path)
    >>> stage = read_stage(path)
    >>> stage.threshold, len(stage.weak)
    (-0.5, 1)
    """
    reader = _Reader(path)
    return _read_stage(reader, reader.root, None)
