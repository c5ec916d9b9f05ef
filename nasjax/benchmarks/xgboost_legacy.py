"""Read the official NAS-Bench-301 v1.0 XGBoost ensemble without the old XGBoost.

The ensemble folder holds one subfolder per member, each with ``surrogate_model.model`` (a
pickled ``xgboost.Booster`` of XGBoost 1.0/1.1, which XGBoost 3.2 refuses to load),
``model_config.json`` and ``data_config.json``. NAS-Bench-301 predicts with the mean of the
members (Cassimon et al. §4.2 use it without noise). This module reads those files as data:

1. A restricted unpickler rebuilds only the Booster's pickled ``__dict__``. XGBoost 1.0/1.1's
   ``Booster.__getstate__`` stores ``XGBoosterSerializeToBuffer`` output as a ``bytearray``
   under ``handle``; nothing else in the pickle is needed, and no other class may appear in it.
2. That buffer is ``Learner::Save``: either ``b"CONFIG-offset:"``, an int64 offset, the binary
   model (``b"binf"`` first from 1.1), then the JSON configuration at that offset; or, with
   ``enable_experimental_json_serialization``, one JSON document ``{"Model": ..., "Config": ...}``.
3. The binary model (little-endian, packed C structs; src/learner.cc, src/gbm/gbtree_model.cc,
   src/tree/tree_model.cc of XGBoost 1.0.2 and 1.1.1, identical but for ``binf``):

   ======================  ======================================================================
   LearnerModelParam       136 B: base_score f32, num_feature u32, num_class i32,
                           contain_extra_attrs i32, contain_eval_metrics i32, major_version u32,
                           minor_version u32, 27 reserved i32
   objective, booster      strings: u64 length, bytes
   GBTreeModelParam        160 B: num_trees i32, num_roots i32, num_feature i32, pad i32,
                           num_pbuffer i64, num_output_group i32, size_leaf_vector i32, 32 i32
   each tree               TreeParam 148 B (num_roots, num_nodes, num_deleted, max_depth,
                           num_feature, size_leaf_vector i32, 31 reserved i32), then num_nodes
                           nodes of 20 B (parent i32, left i32 (-1: leaf), right i32, split
                           index u32 whose top bit is default_left (all ones: deleted by the
                           pruner, unreachable), split condition or leaf value f32), then
                           num_nodes stats of 16 B (loss_chg, sum_hess, base_weight f32,
                           leaf_child_cnt i32)
   tree_info               num_trees i32 (output group of each tree)
   attributes              if contain_extra_attrs: u64 count, then (key, value) string pairs
   ======================  ======================================================================

XGBoost <= 1.2 predicts ``base + sum of leaves`` (the leaves summed first), so the ensemble is
built with ``base_first=False`` (see :mod:`nasjax.benchmarks.trees`).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import re
from pathlib import Path

import numpy as np

from nasjax.benchmarks import trees

MEMBER_FILE = "surrogate_model.model"
CONFIG_FILES = ("model_config.json", "data_config.json")
SERIALISATION_HEADER = b"CONFIG-offset:"
BINARY_MAGIC = b"binf"  # XGBoost >= 1.1 writes it before the binary model
KNOWN_VERSIONS = ((1, 0), (1, 1))  # (major, minor) of the binary models this reader checks
MEMBER_MODEL = "xgb"  # model_config["model"] of NAS-Bench-301's XGBoost members
SOURCE = "NAS-Bench-301 v1.0 XGBoost ensemble (Siems, Zimmer et al. 2020, Apache-2.0)"

_LEARNER_PARAM = np.dtype([("base_score", "<f4"), ("num_feature", "<u4"), ("num_class", "<i4"),
                           ("contain_extra_attrs", "<i4"), ("contain_eval_metrics", "<i4"),
                           ("major_version", "<u4"), ("minor_version", "<u4"),
                           ("reserved", "<i4", 27)])
_GBTREE_PARAM = np.dtype([("num_trees", "<i4"), ("num_roots", "<i4"), ("num_feature", "<i4"),
                          ("pad", "<i4"), ("num_pbuffer", "<i8"), ("num_output_group", "<i4"),
                          ("size_leaf_vector", "<i4"), ("reserved", "<i4", 32)])
_TREE_PARAM = np.dtype([("num_roots", "<i4"), ("num_nodes", "<i4"), ("num_deleted", "<i4"),
                        ("max_depth", "<i4"), ("num_feature", "<i4"),
                        ("size_leaf_vector", "<i4"), ("reserved", "<i4", 31)])
_NODE = np.dtype([("parent", "<i4"), ("left", "<i4"), ("right", "<i4"), ("split_index", "<u4"),
                  ("condition", "<f4")])
_STAT_BYTES = 16  # loss_chg, sum_hess, base_weight (f32), leaf_child_cnt (i32): unused here
_DEFAULT_LEFT_BIT = np.uint32(1 << 31)
_DELETED = np.uint32(0xFFFFFFFF)  # split index of a node deleted by pruning
assert (_LEARNER_PARAM.itemsize, _GBTREE_PARAM.itemsize, _TREE_PARAM.itemsize,
        _NODE.itemsize) == (136, 160, 148, 20)


# ----------------------------------------------------------------------------- the pickle


class _BoosterState:
    """Stands in for ``xgboost.core.Booster`` while unpickling: receives its ``__dict__``."""


def _latin1_encode(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as protocol 2 uses it to pickle ``bytes`` (latin-1 only)."""
    if encoding not in ("latin1", "latin-1"):
        raise ValueError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


ALLOWED_GLOBALS = {  # everything a pickled XGBoost 1.x Booster refers to
    ("xgboost.core", "Booster"): _BoosterState,
    ("builtins", "bytearray"): bytearray,
    ("__builtin__", "bytearray"): bytearray,  # protocol 2 names
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can build a pickled Booster's state and nothing else, and no object
    larger than the pickle itself (a ``bytearray(n)`` of a declared size is checked first)."""

    def __init__(self, file: io.BytesIO, limit: int) -> None:
        """Args: file: the pickle; limit: the largest ``bytearray`` size allowed (its bytes)."""
        super().__init__(file)
        self._limit = limit

    def find_class(self, module: str, name: str):
        try:
            found = ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise ValueError(f"refusing to unpickle {module}.{name}: a NAS-Bench-301 member "
                             "holds only an xgboost.core.Booster") from None
        return self._bytearray if found is bytearray else found

    def _bytearray(self, source: object = b"", *rest) -> bytearray:
        """``bytearray(source, *rest)``, refusing a size (or source) larger than the pickle."""
        size = source if isinstance(source, int) else (
            len(source) if hasattr(source, "__len__") else None)
        if size is None or size > self._limit:
            raise ValueError(f"the pickle asks for a bytearray of {size or 'unknown'} bytes, more "
                             f"than its own {self._limit:,} bytes")
        return bytearray(source, *rest)


def _check_declared_lengths(data: bytes) -> None:
    """Walks the opcodes without building anything: a length-prefixed argument (bytes, string,
    bytearray) declaring more bytes than the pickle holds is refused before any allocation.

    Raises:
      ValueError: naming the opcode.
    """
    try:
        for _ in pickletools.genops(data):
            pass
    except ValueError as error:
        raise ValueError(f"unreadable pickle: {error}") from None


# What the pickle machinery raises on truncated or malformed input (ValueError passes as is).
_BROKEN_PICKLE = (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError,
                  KeyError, UnicodeDecodeError, MemoryError)


def booster_buffer(data: bytes) -> bytes:
    """The serialised model inside a pickled XGBoost 1.x ``Booster`` (its ``handle``).

    Raises:
        ValueError: not a pickle, a class other than the Booster's, or no model in it.
    """
    if not data.startswith(b"\x80"):
        raise ValueError("not a pickle (protocol >= 2 files start with 0x80)")
    _check_declared_lengths(data)
    try:
        state = RestrictedUnpickler(io.BytesIO(data), len(data)).load()
    except _BROKEN_PICKLE as error:
        raise ValueError(f"unreadable pickle: {error!r}") from None
    handle = state.__dict__.get("handle") if type(state) is _BoosterState else None
    try:
        return memoryview(handle).tobytes()
    except TypeError:  # None, or not bytes
        raise ValueError("the pickle does not hold a trained xgboost.core.Booster") from None


# ----------------------------------------------------------------------------- the model


class _Reader:
    """Sequential little-endian reads from a buffer, with one clear error at its end."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise ValueError(f"truncated XGBoost binary model: {what} needs {size} bytes at "
                             f"offset {self.pos}, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def struct(self, dtype: np.dtype, what: str, count: int = 1) -> np.ndarray:
        return np.frombuffer(self.take(dtype.itemsize * count, what), dtype, count)

    def string(self, what: str) -> str:
        size = int(self.struct(np.dtype("<u8"), what)[0])
        return self.take(size, what).decode("utf-8", errors="replace")


def parse_serialised(buffer: bytes) -> tuple[trees.Forest, dict]:
    """(member, info) from ``Learner::Save`` output (the pickle's ``handle``) of XGBoost 1.0/1.1.

    ``info`` holds the library version from the configuration, the model's attributes and
    ``base_first`` (False: XGBoost <= 1.2 adds the base score after the trees).

    Raises:
        ValueError: an unknown layout or version, or a model the engine cannot evaluate.
    """
    if buffer.startswith(b"{"):
        snapshot = json.loads(buffer, parse_float=str)
        if not isinstance(snapshot, dict) or "Model" not in snapshot:
            raise ValueError("JSON serialisation without a 'Model' document")
        version = snapshot["Model"].get("version")
        return trees.forest_from_json(snapshot["Model"]), {
            "layout": "json", "xgboost_version": version, "base_first": False}
    if not buffer.startswith(SERIALISATION_HEADER):
        raise ValueError(f"unknown XGBoost serialisation starting {buffer[:16]!r}: expected "
                         f"{SERIALISATION_HEADER!r} (XGBoost 1.0/1.1) or a JSON document")
    reader = _Reader(buffer)
    reader.take(len(SERIALISATION_HEADER), "header")
    offset = int(reader.struct(np.dtype("<i8"), "config offset")[0])
    binary = reader.take(offset, "binary model")
    try:
        config = json.loads(buffer[reader.pos:])
    except ValueError:
        raise ValueError("the configuration after the binary model is not JSON") from None
    forest, info = parse_binary(binary)
    return forest, {**info, "layout": "binary", "xgboost_version": config.get("version")}


def parse_binary(data: bytes) -> tuple[trees.Forest, dict]:
    """(member, info) from an XGBoost 1.0/1.1 binary model (``Learner::SaveModel``).

    Raises:
        ValueError: a version other than 1.0/1.1, a non-identity objective, a booster other
            than gbtree, several outputs, vector leaves, or a malformed/truncated buffer.
    """
    reader = _Reader(data)
    if data.startswith(BINARY_MAGIC):
        reader.take(len(BINARY_MAGIC), "magic")
    learner = reader.struct(_LEARNER_PARAM, "learner parameters")[0]
    version = (int(learner["major_version"]), int(learner["minor_version"]))
    if version not in KNOWN_VERSIONS:
        raise ValueError(f"binary model of XGBoost {version[0]}.{version[1]}: this reader knows "
                         f"the format of {', '.join(f'{a}.{b}' for a, b in KNOWN_VERSIONS)}")
    objective, booster = reader.string("objective"), reader.string("booster")
    if objective not in trees.IDENTITY_OBJECTIVES:
        raise ValueError(f"objective {objective!r} is not supported: only "
                         f"{trees.IDENTITY_OBJECTIVES}")
    if booster != "gbtree":
        raise ValueError(f"booster {booster!r} is not supported: only 'gbtree'")
    if int(learner["num_class"]) > 1:
        raise ValueError(f"num_class = {learner['num_class']}: only single-output regressors")
    gbtree = reader.struct(_GBTREE_PARAM, "gbtree parameters")[0]
    num_trees = int(gbtree["num_trees"])
    if num_trees < 0 or int(gbtree["size_leaf_vector"]) != 0:
        raise ValueError(f"gbtree parameters num_trees = {num_trees}, size_leaf_vector = "
                         f"{gbtree['size_leaf_vector']}: not a scalar-leaf tree model")
    nodes, sizes, deleted = [], [], 0
    for k in range(num_trees):
        param = reader.struct(_TREE_PARAM, f"tree {k} parameters")[0]
        count = int(param["num_nodes"])
        if int(param["num_roots"]) != 1 or count < 1 or int(param["size_leaf_vector"]) != 0:
            raise ValueError(f"tree {k}: num_roots = {param['num_roots']}, num_nodes = {count}, "
                             f"size_leaf_vector = {param['size_leaf_vector']}: not a plain tree")
        nodes.append(reader.struct(_NODE, f"tree {k} nodes", count))
        reader.take(_STAT_BYTES * count, f"tree {k} statistics")
        sizes.append(count)
        deleted += int(param["num_deleted"])
    groups = reader.struct(np.dtype("<i4"), "tree_info", num_trees)
    if (groups != 0).any():
        raise ValueError("trees of several output groups: only single-output regressors")
    attributes = {}
    if int(learner["contain_extra_attrs"]):
        for _ in range(int(reader.struct(np.dtype("<u8"), "attribute count")[0])):
            key = reader.string("attribute key")
            attributes[key] = reader.string("attribute value")
    if reader.pos != len(data):
        raise ValueError(f"{len(data) - reader.pos} unexpected bytes after the binary model")

    node = np.concatenate(nodes) if nodes else np.zeros(0, _NODE)
    leaf = (node["left"] == -1) | (node["split_index"] == _DELETED)  # deleted: unreachable
    forest = trees.Forest(
        left=np.where(leaf, -1, node["left"]).astype(np.int32),
        right=np.where(leaf, -1, node["right"]).astype(np.int32),
        feature=np.where(leaf, 0, node["split_index"] & ~_DEFAULT_LEFT_BIT).astype(np.int32),
        condition=node["condition"].astype(np.float32),
        default_left=(node["split_index"] & _DEFAULT_LEFT_BIT) != 0,
        tree_start=np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]),
        base_score=np.float32(learner["base_score"]),
        num_features=int(learner["num_feature"]))
    return forest, {"binary_version": list(version), "objective": objective,
                    "deleted_nodes": deleted, "attributes": attributes, "base_first": False}


# ----------------------------------------------------------------------------- the folder


def member_files(folder: str | os.PathLike) -> list[Path]:
    """The members' ``surrogate_model.model`` files below ``folder``, in natural name order.

    NAS-Bench-301's own loader takes them in file-system order (``Path.rglob``); the order only
    matters for the last bit of the mean.

    Raises:
        ValueError: the folder does not exist or holds no member.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder (expected the NAS-Bench-301 xgb_v1.0 folder)")
    files = sorted(folder.rglob(MEMBER_FILE), key=lambda p: _natural_key(p.relative_to(folder)))
    if not files:
        raise ValueError(f"{folder} holds no */{MEMBER_FILE}: not a NAS-Bench-301 ensemble")
    return files


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def read_member(path: str | os.PathLike) -> tuple[trees.Forest, dict]:
    """(member, info) of one ``surrogate_model.model`` with its folder's configuration files.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        forest, info = parse_serialised(booster_buffer(path.read_bytes()))
        for name in CONFIG_FILES:
            config = path.parent / name
            info[name.removesuffix(".json")] = (
                json.loads(config.read_text()) if config.exists() else None)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    model = (info["model_config"] or {}).get("model", MEMBER_MODEL)
    if model != MEMBER_MODEL:
        raise ValueError(f"{path}: model_config.json says {model!r}, not an {MEMBER_MODEL!r} "
                         "member")
    return forest, info


def read_official_folder(folder: str | os.PathLike) -> tuple[trees.TreeEnsemble, list[dict]]:
    """(ensemble, member infos) of the NAS-Bench-301 v1.0 XGBoost ensemble in ``folder``.

    Each info holds the member's relative ``path``, its ``model_config``/``data_config`` and
    what the model file says (XGBoost version, layout, attributes).

    Raises:
        ValueError: no members, or a member file that cannot be read (named).
    """
    folder = Path(folder)
    forests, infos = [], []
    for path in member_files(folder):
        forest, info = read_member(path)
        forests.append(forest)
        infos.append({"path": str(path.relative_to(folder)), **info})
    orders = {info.pop("base_first") for info in infos}
    if len(orders) != 1:
        raise ValueError(f"{folder}: members of different XGBoost summation orders")
    return trees.assemble(forests, base_first=orders.pop()), infos


def convert_official_folder(folder: str | os.PathLike,
                            out: str | os.PathLike) -> trees.TreeEnsemble:
    """Read the official ensemble in ``folder`` and write it to the compact ``.npz`` ``out``."""
    ensemble, infos = read_official_folder(folder)
    trees.save(out, ensemble, {"source": SOURCE, "members": infos})
    return ensemble
