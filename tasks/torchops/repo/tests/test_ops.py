"""Compare torchops with PyTorch's own operators (on CPU tensors; on CUDA too when available)."""

import unittest

import torch
import torch.nn.functional as F

import torchops

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def randn(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def reference_attention(module, x):
    batch, seq, dim = x.shape
    hd = dim // module.heads
    q, k, v = module.qkv(x).chunk(3, dim=-1)
    q, k, v = (t.reshape(batch, seq, module.heads, hd).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=module.causal)
    return module.proj(out.transpose(1, 2).reshape(batch, seq, dim))


class SoftmaxTest(unittest.TestCase):
    def test_matches_torch(self):
        for device in DEVICES:
            x = (randn(37, 50, seed=1) * 5).to(device)
            torch.testing.assert_close(torchops.softmax(x), torch.softmax(x, dim=-1))

    def test_other_dims_and_shapes(self):
        x = randn(3, 4, 5, seed=2) * 3
        for dim in (0, 1, 2, -1, -2):
            torch.testing.assert_close(torchops.softmax(x, dim=dim), torch.softmax(x, dim=dim))
        v = randn(9, seed=3)
        torch.testing.assert_close(torchops.softmax(v), torch.softmax(v, dim=0))

    def test_large_values_are_stable(self):
        x = torch.tensor([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]])
        out = torchops.softmax(x)
        self.assertTrue(torch.isfinite(out).all())
        torch.testing.assert_close(out.sum(dim=-1), torch.ones(2))

    def test_masked_entries(self):
        x = torch.tensor([[0.0, float("-inf"), 1.0]])
        out = torchops.softmax(x)
        self.assertEqual(out[0, 1].item(), 0.0)
        torch.testing.assert_close(out, torch.softmax(x, dim=-1))


class NormTest(unittest.TestCase):
    def test_layer_norm_matches_torch(self):
        for device in DEVICES:
            x = (randn(4, 6, 64, seed=4) * 2 + 1).to(device)
            w = randn(64, seed=5).to(device)
            b = randn(64, seed=6).to(device)
            torch.testing.assert_close(torchops.layer_norm(x, w, b),
                                       F.layer_norm(x, (64,), w, b, eps=1e-5),
                                       rtol=1e-4, atol=1e-5)

    def test_layer_norm_eps_and_shape(self):
        x = torch.zeros(3, 8)
        out = torchops.layer_norm(x, torch.ones(8), torch.full((8,), 0.25), eps=1e-3)
        torch.testing.assert_close(out, torch.full((3, 8), 0.25))
        with self.assertRaises(ValueError):
            torchops.layer_norm(x, torch.ones(7), torch.zeros(8))

    def test_rms_norm(self):
        x = randn(5, 32, seed=7)
        w = randn(32, seed=8)
        expected = x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + 1e-6) * w
        torch.testing.assert_close(torchops.rms_norm(x, w), expected)
        with self.assertRaises(ValueError):
            torchops.rms_norm(x, torch.ones(3))


class AttentionTest(unittest.TestCase):
    def check(self, causal, device):
        torch.manual_seed(9)
        module = torchops.Attention(32, 4, causal=causal).to(device).eval()
        x = randn(2, 11, 32, seed=10).to(device)
        with torch.no_grad():
            out = module(x)
            expected = reference_attention(module, x)
        self.assertEqual(out.shape, x.shape)
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)

    def test_matches_reference(self):
        for device in DEVICES:
            self.check(False, device)

    def test_causal_matches_reference(self):
        for device in DEVICES:
            self.check(True, device)

    def test_causal_first_position_sees_only_itself(self):
        torch.manual_seed(11)
        module = torchops.Attention(16, 2, causal=True).eval()
        x = randn(1, 5, 16, seed=12)
        with torch.no_grad():
            full = module(x)
            first = module(x[:, :1])
        torch.testing.assert_close(full[:, :1], first)

    def test_bad_heads(self):
        with self.assertRaises(ValueError):
            torchops.Attention(30, 4)


if __name__ == "__main__":
    unittest.main()
