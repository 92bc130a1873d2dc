# SPDX-License-Identifier: Apache-2.0
# onecopy.torch: tensors over the shared mapping (every dtype, no copy, no warning), loading a
# meta-device model by assignment (tied weights, torch-style key errors, nothing half-loaded on
# a mismatch), publishing a live model bit-exactly, and what writes and devices do.
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (onecopy[torch])")
ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed")

import onecopy  # noqa: E402
import onecopy.torch as oct  # noqa: E402
from workers import mapping_ranges  # noqa: E402


def inside(handle_or_name, t):
    start, end = oct.mapping_range(handle_or_name)
    return start <= t.data_ptr() and t.data_ptr() + t.nbytes <= end


def every_dtype_bundle():
    rng = np.random.default_rng(7)
    bits8 = rng.integers(0, 256, size=(3, 5), dtype=np.uint8)
    out = {
        "u8": bits8, "i8": bits8.view(np.int8), "u16": np.arange(6, dtype=np.uint16),
        "i16": -np.arange(6, dtype=np.int16), "u32": np.arange(7, dtype=np.uint32),
        "i32": -np.arange(7, dtype=np.int32), "u64": np.arange(3, dtype=np.uint64),
        "i64": -np.arange(3, dtype=np.int64), "f16": np.linspace(0, 1, 9, dtype=np.float16),
        "f32": rng.standard_normal((4, 4)).astype(np.float32), "f64": np.array(3.25),
        "bool": np.array([True, False, True]), "c64": np.array([1 + 2j], np.complex64),
        "c128": np.array([3 - 1j]), "empty": np.zeros((0, 4), np.float32),
        "bf16": rng.standard_normal((2, 3)).astype(ml_dtypes.bfloat16),
    }
    for name in ("f8_e4m3", "f8_e5m2", "f8_e8m0", "f8_e4m3fnuz", "f8_e5m2fnuz"):
        out[name] = bits8.view(onecopy._dtypes.numpy_dtype(name)[0])
    return out


def test_every_dtype_is_a_zero_copy_view_with_exact_bits_and_no_warning():
    arrays = every_dtype_bundle()
    h = onecopy.put("all", arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning (torch's non-writable one) fails the test
        sd = oct.state_dict("all")
    assert list(sd) == list(arrays)
    for key, a in arrays.items():
        engine = h.tensor(key).dtype_name
        if engine not in oct.TORCH_DTYPES:
            continue
        t = sd[key]
        assert t.dtype == oct.TORCH_DTYPES[engine], key
        assert tuple(t.shape) == a.shape, key
        if t.numel():
            assert inside(h, t), key
            assert t.data_ptr() == h.tensor(key).address, key
        raw = t.view(torch.uint8) if t.element_size() == 1 or t.dim() else t
        if t.element_size() == 1:
            assert bytes(raw.numpy().tobytes()) == a.tobytes(), key
        elif t.dtype == torch.bfloat16:
            assert t.view(torch.int16).numpy().tobytes() == a.tobytes()
        else:
            assert np.array_equal(t.numpy(), a), key
    assert sd["bf16"].float().tolist() == arrays["bf16"].astype(np.float32).tolist()


def test_state_dict_of_a_missing_bundle_names_it():
    with pytest.raises(FileNotFoundError, match="nothere"):
        oct.state_dict("nothere")


def test_state_dict_of_an_array_segment_says_to_use_dlpack():
    onecopy.put("arr", np.arange(4))
    with pytest.raises(TypeError, match="one array"):
        oct.state_dict("arr")


def test_a_write_through_a_tensor_faults_naming_segment_and_tensor_and_the_copy_is_intact():
    onecopy.put("w", {"pad": np.zeros(16, np.float32), "x": np.arange(8, dtype=np.float32)})
    code = "import onecopy.torch as oct; t = oct.state_dict('w')['x']; t.add_(1); print('wrote')"
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":handle_segv=0")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == -signal.SIGSEGV and "wrote" not in r.stdout, r.stderr[-2000:]
    assert "write to read-only onecopy segment 'w' (offset " in r.stderr
    assert "tensor 'x'" in r.stderr
    assert oct.state_dict("w")["x"].tolist() == list(range(8))


def test_inference_tensors_would_not_protect_the_copy():
    """Why state_dict gives ordinary tensors: torch raises for an in-place update of an
    inference tensor only after the kernel has written (shown on private memory here)."""
    private = np.arange(4, dtype=np.float32)
    with torch.inference_mode():
        t = torch.from_dlpack(private)
    with pytest.raises(RuntimeError, match="[Ii]nplace update to inference tensor"):
        t.add_(1)
    assert private.tolist() == [1, 2, 3, 4]  # written before the error


class Tiny(torch.nn.Module):
    """Embedding + a tied output head + a buffer."""

    def __init__(self, vocab=50, dim=16, dtype=torch.float32):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim, dtype=dtype)
        self.mix = torch.nn.Linear(dim, dim, dtype=dtype)
        self.head = torch.nn.Linear(dim, vocab, bias=False, dtype=dtype)
        self.head.weight = self.embed.weight
        self.register_buffer("scale", torch.tensor([0.5], dtype=dtype))

    def forward(self, ids):
        return self.head(torch.tanh(self.mix(self.embed(ids))) * self.scale)


def reference(dtype=torch.float32):
    torch.manual_seed(0)
    return Tiny(dtype=dtype).eval()


def test_put_then_load_into_a_meta_model_is_zero_copy_and_equal():
    ref = reference()
    h = oct.put_state_dict("tiny", ref)
    assert sorted(h.keys()) == ["embed.weight", "mix.bias", "mix.weight", "scale"]  # tie stored once
    with torch.device("meta"):
        model = Tiny()
    result = oct.load_state_dict(model, "tiny")
    assert result == ([], [])
    assert model.head.weight is model.embed.weight  # the tie survives
    for n, p in list(model.named_parameters()) + list(model.named_buffers()):
        assert p.device.type == "cpu" and inside(h, p), n
        assert not p.requires_grad, n
    ids = torch.tensor([[1, 2, 3, 49]])
    with torch.no_grad():
        assert torch.equal(model(ids), ref(ids))


def test_bf16_model_round_trips_bit_exactly():
    ref = reference(torch.bfloat16)
    oct.put_state_dict("bf", ref)
    sd = oct.state_dict("bf")
    for k, v in ref.state_dict().items():
        assert sd[k].dtype == torch.bfloat16
        assert torch.equal(sd[k].view(torch.int16), v.view(torch.int16)), k
    assert sd["head.weight"] is sd["embed.weight"]  # the alias comes back as the same tensor


def test_frozen_shared_weights_still_train_an_adapter():
    """freeze=True (default, not inference tensors): autograd flows through the shared weights
    to a trainable adapter, as LoRA on a frozen base does."""
    oct.put_state_dict("tiny", reference())
    with torch.device("meta"):
        model = Tiny()
    oct.load_state_dict(model, "tiny")
    adapter = torch.nn.Parameter(torch.zeros(16, 16))
    x = model.embed(torch.tensor([1, 2]))
    loss = (model.mix(x) + x @ adapter).square().sum()
    loss.backward()
    assert adapter.grad is not None and model.mix.weight.grad is None


def test_missing_and_unexpected_keys_read_like_torch_and_load_nothing():
    ref = reference()
    sd = dict(ref.state_dict())
    sd.pop("mix.bias")
    sd["extra.weight"] = torch.ones(2)
    oct.put_state_dict("partial", sd)
    with torch.device("meta"):
        model = Tiny()
    with pytest.raises(RuntimeError) as e:
        oct.load_state_dict(model, "partial")
    text = str(e.value)
    assert "Error(s) in loading state_dict for Tiny" in text
    assert 'Missing key(s) in state_dict: "mix.bias"' in text
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in text
    assert all(p.is_meta for p in model.parameters())  # nothing half-loaded
    result = oct.load_state_dict(model, "partial", strict=False)
    assert result.missing_keys == ["mix.bias"] and result.unexpected_keys == ["extra.weight"]
    assert model.mix.bias.is_meta and not model.mix.weight.is_meta


def test_shape_and_dtype_mismatches_name_the_tensor_and_load_nothing():
    sd = dict(reference().state_dict())
    sd["mix.weight"] = torch.zeros(16, 8)
    oct.put_state_dict("shape", sd)
    with torch.device("meta"):
        model = Tiny()
    with pytest.raises(RuntimeError, match=r"size mismatch for mix.weight.*\[16, 8\].*\[16, 16\]"):
        oct.load_state_dict(model, "shape", strict=False)
    assert all(p.is_meta for p in model.parameters())
    oct.put_state_dict("dtype", reference(torch.float16))
    with pytest.raises(RuntimeError, match=r"dtype mismatch for (embed|mix)\..*torch.float16"):
        oct.load_state_dict(model, "dtype")
    assert all(p.is_meta for p in model.parameters())


def test_put_state_dict_refuses_meta_tensors_naming_them():
    with torch.device("meta"):
        model = Tiny()
    with pytest.raises(ValueError, match=r"5 tensors are on the meta device.*scale, embed.weight"):
        oct.put_state_dict("m", model)
    assert onecopy.ls() == []


def test_to_device_cpu_is_the_host_view_and_cuda_without_gpu_says_why():
    h = oct.put_state_dict("tiny", reference())
    cpu = oct.to_device("tiny", "cpu")
    assert all(inside(h, t) for t in cpu.values())
    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists: the no-GPU path does not apply")
    with pytest.warns(RuntimeWarning, match="no shared device copy .* from onecopy serve"):
        with pytest.raises(RuntimeError, match=r"cannot place bundle 'tiny' on cuda:0: .*state_dict"):
            oct.to_device("tiny", "cuda:0")


def test_pinning_chunks_cover_the_data_in_whole_pages():
    """The CPU part of to_device's pinned registration (the cudaHostRegister calls need a GPU)."""
    page = 4096
    assert oct.register_chunks(100, 100, 1 << 20) == []
    pieces = oct.register_chunks(5 * page + 100, 20 * page + 1, 4 * page + 7)
    assert pieces[0][0] == 5 * page
    assert all(size == 4 * page for _, size in pieces[:-1]) and pieces[-1][1] <= 4 * page
    assert all(a + s == b for (a, s), (b, _) in zip(pieces, pieces[1:]))  # contiguous
    assert pieces[-1][0] + pieces[-1][1] == 21 * page
    assert oct.register_chunks(0, 3 * page, 1) == [(0, page), (page, page), (2 * page, page)]


def test_tensors_keep_the_mapping_after_rm():
    h = oct.put_state_dict("tiny", reference())
    path = h.path
    sd = oct.state_dict("tiny")
    del h
    onecopy.rm("tiny")
    ranges = mapping_ranges(path + " (deleted)") or mapping_ranges(path)
    assert any(s <= sd["mix.weight"].data_ptr() < e for s, e in ranges)
    assert torch.equal(sd["mix.weight"], reference().mix.weight.detach())


def test_import_onecopy_does_not_import_torch():
    r = subprocess.run([sys.executable, "-c",
                        "import sys, onecopy; print('torch' in sys.modules)"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
