"""The NAS-Bench-301 v1.0 ensemble reader, on fixtures written by XGBoost 1.0.2 and 1.1.1 itself.

The fixtures (tests/fixtures/nb301_legacy/make_fixtures.py) hold four members per version in
the official folder layout, pickled with protocols 3 and 4 (one in XGBoost's JSON
serialisation), and the old library's own predictions on fixed inputs.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from nasjax.benchmarks import trees, xgboost_legacy

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nb301_legacy"
VERSIONS = ["1.0.2", "1.1.1"]


def ulp(a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32))


@pytest.fixture(scope="module", params=VERSIONS)
def official(request):
    folder = FIXTURES / f"xgb_{request.param}"
    ensemble, infos = xgboost_legacy.read_official_folder(folder)
    with np.load(folder / "predictions.npz") as data:
        expected = {key: data[key] for key in data.files}
    return request.param, folder, ensemble, infos, expected


def test_bit_parity_per_member_with_the_old_library(official):
    version, _, ensemble, _, expected = official
    assert str(expected["versions"][0]) == version
    x = expected["inputs"]
    assert np.isnan(x).any() and (x == -1).any()
    got = trees.predict(ensemble, x)
    assert got.shape == expected["member_predictions"].shape == (len(x), 4)
    assert ulp(got, expected["member_predictions"]).max(axis=0).tolist() == [0, 0, 0, 0]
    # The old NumPy's mean over members, too (same pairwise summation).
    assert ulp(trees.ensemble_mean(got), expected["mean"]).max() == 0


def test_summation_order_is_the_old_librarys(official):
    _, _, ensemble, _, expected = official
    assert not ensemble.base_first
    modern = trees.predict(ensemble.replace(base_first=True), expected["inputs"])
    assert ulp(modern, expected["member_predictions"]).max() > 0  # the order is observable


def test_members_cover_both_protocols_layouts_and_shapes(official):
    version, folder, ensemble, infos, _ = official
    assert [info["path"] for info in infos] == [
        f"ensemble_member_{k}/surrogate_model.model" for k in range(4)]
    protocols = {(folder / info["path"]).read_bytes()[:2] for info in infos}
    assert protocols == {b"\x80\x03", b"\x80\x04"}
    assert [info["layout"] for info in infos] == ["binary", "binary", "binary", "json"]
    assert {tuple(info["xgboost_version"]) for info in infos} == {
        tuple(int(v) for v in version.split("."))}
    assert [info["model_config"]["fixture_member"] for info in infos] == [
        "nan", "deep", "many", "json"]
    assert infos[1]["data_config"] == {"seed": 1, "rows": 300}
    assert infos[0]["deleted_nodes"] > 0  # pruned splits stay in the file, unreachable
    assert "best_iteration" in infos[2]["attributes"]  # early stopping; all trees still predict
    assert ensemble.num_features == 56 and ensemble.num_trees[2] > 100
    assert int(np.asarray(ensemble.chunk_depth).max()) >= 10
    np.testing.assert_array_equal(ensemble.base_score, np.float32([0.5, 90.0, 93.5, 0.5]))


def test_convert_writes_the_compact_file(official, tmp_path):
    _, folder, ensemble, _, expected = official
    written = xgboost_legacy.convert_official_folder(folder, tmp_path / "nb301.npz")
    loaded, metadata = trees.load(tmp_path / "nb301.npz")
    assert metadata["source"] == xgboost_legacy.SOURCE and len(metadata["members"]) == 4
    np.testing.assert_array_equal(trees.predict(loaded, expected["inputs"]),
                                  expected["member_predictions"])
    assert loaded.num_trees == written.num_trees == ensemble.num_trees


# ----------------------------------------------------------------------------- bad input


def handle_of(path: Path) -> bytes:
    return xgboost_legacy.booster_buffer(path.read_bytes())


def repickled(path: Path, handle: bytes) -> bytes:
    """The protocol-3 member pickle at ``path`` with its model bytes replaced (no framing in
    protocol 3: the bytes are one BINBYTES argument, a 4-byte length then the data)."""
    data, old = path.read_bytes(), handle_of(path)
    assert data[:2] == b"\x80\x03"
    opcode = b"B" + struct.pack("<I", len(old)) + old
    assert data.count(opcode) == 1
    return data.replace(opcode, b"B" + struct.pack("<I", len(handle)) + handle)


MEMBER = FIXTURES / "xgb_1.0.2" / "ensemble_member_0" / "surrogate_model.model"


def test_a_pickle_calling_os_system_is_refused(tmp_path):
    target = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {target}",)

    with pytest.raises(ValueError, match=r"refusing to unpickle posix\.system"):
        xgboost_legacy.booster_buffer(pickle.dumps(Exploit(), protocol=4))
    assert not target.exists()
    with pytest.raises(ValueError, match=r"refusing to unpickle builtins\.eval"):
        xgboost_legacy.booster_buffer(pickle.dumps(eval, protocol=3))


@pytest.mark.parametrize("data", [
    b"\x80\x02c__builtin__\nbytearray\nJ\xff\xff\xff\x7f\x85R.",  # bytearray(2**31 - 1)
    b"\x80\x05\x96" + (2**31).to_bytes(8, "little") + b".",  # BYTEARRAY8 of 2 GiB
    b"\x80\x04\x8e" + (2**31).to_bytes(8, "little") + b".",  # BINBYTES8 of 2 GiB
])
def test_a_tiny_pickle_declaring_a_huge_object_is_refused_before_allocating(data):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"bytearray of 2,?147,?483,?647 bytes, more than its "
                       r"own \d+ bytes|unreadable pickle: expected 2147483648 bytes"):
        xgboost_legacy.booster_buffer(data)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 2**18  # KiB: 256 MiB


def test_files_that_are_not_member_pickles():
    with pytest.raises(ValueError, match="not a pickle"):
        xgboost_legacy.booster_buffer(b"binf\x00\x00\x00?")
    with pytest.raises(ValueError, match="does not hold a trained xgboost.core.Booster"):
        xgboost_legacy.booster_buffer(pickle.dumps({"handle": 1}, protocol=4))
    with pytest.raises(ValueError, match="unreadable pickle"):
        xgboost_legacy.booster_buffer(MEMBER.read_bytes()[:300])


def test_unknown_or_corrupt_models_are_named(tmp_path):
    handle = handle_of(MEMBER)
    offset = struct.unpack("<q", handle[14:22])[0]
    binary = handle[22:22 + offset]
    with pytest.raises(ValueError, match="unknown XGBoost serialisation starting b'XGBOOST"):
        xgboost_legacy.parse_serialised(b"XGBOOST-2.0" + handle)
    # Learner parameters 136 B, "reg:squarederror" 8 + 16 B, "gbtree" 8 + 6 B, gbtree parameters
    # 160 B, tree 0's parameters 148 B: its nodes start at byte 482.
    with pytest.raises(ValueError, match=r"truncated XGBoost binary model: tree 0 nodes needs "
                                         r"\d+ bytes at offset 482, 8 left"):
        xgboost_legacy.parse_binary(binary[:490])
    newer = bytearray(binary)
    newer[24:28] = struct.pack("<I", 7)  # minor_version (after base_score .. major_version)
    with pytest.raises(ValueError, match=r"binary model of XGBoost 1\.7: this reader knows "
                                         r"the format of 1\.0, 1\.1"):
        xgboost_legacy.parse_binary(bytes(newer))
    with pytest.raises(ValueError, match="8 unexpected bytes after the binary model"):
        xgboost_legacy.parse_binary(binary + bytes(8))
    logistic = binary.replace(b"\x10\x00\x00\x00\x00\x00\x00\x00reg:squarederror",
                              b"\x0f\x00\x00\x00\x00\x00\x00\x00binary:logistic")
    with pytest.raises(ValueError, match="objective 'binary:logistic' is not supported"):
        xgboost_legacy.parse_binary(logistic)

    folder = tmp_path / "ensemble"
    shutil.copytree(MEMBER.parent, folder / "ensemble_member_0")
    corrupt = handle[:22] + binary[:4000] + handle[22 + offset:]
    corrupt = corrupt[:14] + struct.pack("<q", 4000) + corrupt[22:]
    (folder / "ensemble_member_0" / "surrogate_model.model").write_bytes(
        repickled(MEMBER, corrupt))
    with pytest.raises(ValueError, match=r"ensemble_member_0/surrogate_model\.model: truncated "
                                         r"XGBoost binary model"):
        xgboost_legacy.read_official_folder(folder)


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        xgboost_legacy.read_official_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"holds no \*/surrogate_model\.model"):
        xgboost_legacy.read_official_folder(tmp_path)
    member = tmp_path / "gnn" / "member_0"
    shutil.copytree(MEMBER.parent, member)
    (member / "model_config.json").write_text(json.dumps({"model": "gnn_gin"}))
    with pytest.raises(ValueError, match="model_config.json says 'gnn_gin', not an 'xgb' member"):
        xgboost_legacy.read_official_folder(tmp_path / "gnn")


def test_members_are_in_natural_order(tmp_path):
    for k in (10, 2, 1):
        shutil.copytree(MEMBER.parent, tmp_path / f"member_{k}")
    names = [p.parent.name for p in xgboost_legacy.member_files(tmp_path)]
    assert names == ["member_1", "member_2", "member_10"]
