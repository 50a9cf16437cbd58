#!/usr/bin/env python3
"""Writes a Llama-3.1-8B-shaped checkpoint with random bf16 weights (config.json + model.safetensors)
for speed measurements where the real weights cannot be fetched. The numbers it produces are
timings only: random weights say nothing about quality.

Usage: make_llama8b.py OUT_DIR [LAYERS]   (LAYERS defaults to 32, the real model's)
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file


def main():
    out = sys.argv[1]
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    hidden, inter, heads, kv_heads, vocab, head_dim = 4096, 14336, 32, 8, 128256, 128
    os.makedirs(out, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
        "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
        "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "tie_word_embeddings": False, "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device=device).manual_seed(0)

    def matrix(rows, cols):
        return (torch.randn(rows, cols, generator=gen, device=device, dtype=torch.float32) * 0.02).to(
            torch.bfloat16).cpu()

    def norm(size):
        return torch.ones(size, dtype=torch.bfloat16)

    tensors = {"model.embed_tokens.weight": matrix(vocab, hidden), "model.norm.weight": norm(hidden),
               "lm_head.weight": matrix(vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        tensors[p + "input_layernorm.weight"] = norm(hidden)
        tensors[p + "post_attention_layernorm.weight"] = norm(hidden)
        tensors[p + "self_attn.q_proj.weight"] = matrix(heads * head_dim, hidden)
        tensors[p + "self_attn.k_proj.weight"] = matrix(kv_heads * head_dim, hidden)
        tensors[p + "self_attn.v_proj.weight"] = matrix(kv_heads * head_dim, hidden)
        tensors[p + "self_attn.o_proj.weight"] = matrix(hidden, heads * head_dim)
        tensors[p + "mlp.gate_proj.weight"] = matrix(inter, hidden)
        tensors[p + "mlp.up_proj.weight"] = matrix(inter, hidden)
        tensors[p + "mlp.down_proj.weight"] = matrix(hidden, inter)
    save_file(tensors, os.path.join(out, "model.safetensors"))
    total = sum(t.numel() for t in tensors.values())
    print(f"wrote {out}: {layers} layers, {total / 1e9:.2f} B parameters, {2 * total / 1e9:.1f} GB bf16")


if __name__ == "__main__":
    main()
