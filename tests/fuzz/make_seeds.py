#!/usr/bin/env python3
"""Writes the fuzz seed corpora in tests/fuzz/corpus/ from hand-written descriptions (no fixture
copies): small GGUF files covering every metadata type and several tensor types, safetensors
files covering every dtype, and config.json texts for every supported architecture.
Rerun after changing it: python3 tests/fuzz/make_seeds.py"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# --- GGUF -------------------------------------------------------------------------------------
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FORMATS = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
                  U64: "<Q", I64: "<q", F64: "<d"}
# ggml type id -> (elements per block, bytes per block)
GGML_TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210), 30: (1, 2)}


def gguf_string(text):
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def gguf_value(kind, value):
    if kind == STRING:
        return gguf_string(value)
    if kind == ARRAY:
        element_kind, elements = value
        out = struct.pack("<IQ", element_kind, len(elements))
        return out + b"".join(gguf_value(element_kind, e) for e in elements)
    return struct.pack(SCALAR_FORMATS[kind], value)


def gguf_file(metadata, tensors=(), alignment=32, version=3):
    """metadata: [(key, kind, value)]; tensors: [(name, ggml_type, dims innermost-first)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, kind, value in metadata:
        out += gguf_string(key) + struct.pack("<I", kind) + gguf_value(kind, value)
    offset, blobs = 0, []
    for name, ggml_type, dims in tensors:
        elements = 1
        for d in dims:
            elements *= d
        per_block, block_bytes = GGML_TYPES[ggml_type]
        size = elements // per_block * block_bytes
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
        blobs.append(bytes((i * 7 + 3) % 256 for i in range(size)))
        offset += (size + alignment - 1) // alignment * alignment
    if tensors:
        out += b"\0" * ((-len(out)) % alignment)
        for blob in blobs:
            out += blob + b"\0" * ((-len(blob)) % alignment)
    return out


def gguf_seeds():
    every_type = [
        ("general.architecture", STRING, "test"), ("t.u8", U8, 200), ("t.i8", I8, -5), ("t.u16", U16, 60000),
        ("t.i16", I16, -300), ("t.u32", U32, 7), ("t.i32", I32, -7), ("t.f32", F32, 0.5), ("t.bool", BOOL, True),
        ("t.u64", U64, 1 << 40), ("t.i64", I64, -(1 << 40)), ("t.f64", F64, 1e-9),
        ("t.strings", ARRAY, (STRING, ["a", "bc", ""])), ("t.floats", ARRAY, (F32, [1.0, -2.0])),
        ("t.nested", ARRAY, (ARRAY, [(U16, [1, 2]), (STRING, ["x"])])), ("t.empty", ARRAY, (I32, [])),
    ]
    tensors = [("w.f32", 0, [8, 2]), ("w.q4_0", 2, [32, 2]), ("w.q8_0", 8, [64]), ("w.bf16", 30, [4, 1, 2])]
    llama = [
        ("general.architecture", STRING, "llama"), ("llama.context_length", U32, 128),
        ("llama.embedding_length", U32, 8), ("llama.feed_forward_length", U32, 16), ("llama.block_count", U32, 2),
        ("llama.attention.head_count", U32, 2), ("llama.attention.head_count_kv", U32, 1),
        ("llama.rope.freq_base", F32, 10000.0), ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
        ("llama.rope.scaling.type", STRING, "linear"), ("llama.rope.scaling.factor", F32, 2.0),
        ("tokenizer.ggml.model", STRING, "llama"), ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<unk>", "<s>", "</s>", "a"])),
        ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, 0.0, 0.0, -1.0])),
        ("tokenizer.ggml.token_type", ARRAY, (I32, [2, 3, 3, 1])), ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
    ]
    llama_tensors = [("token_embd.weight", 0, [8, 4]), ("blk.0.attn_q.weight", 0, [8, 8]),
                     ("blk.1.ffn_up.weight", 1, [8, 16]), ("output_norm.weight", 0, [8])]
    deepseek = [
        ("general.architecture", STRING, "deepseek2"), ("deepseek2.vocab_size", U32, 32),
        ("deepseek2.embedding_length", U32, 16), ("deepseek2.feed_forward_length", U32, 32),
        ("deepseek2.block_count", U32, 2), ("deepseek2.attention.head_count", U32, 2),
        ("deepseek2.rope.dimension_count", U32, 4), ("deepseek2.attention.key_length", U32, 12),
        ("deepseek2.attention.value_length", U32, 8), ("deepseek2.attention.kv_lora_rank", U32, 8),
        ("deepseek2.expert_count", U32, 4), ("deepseek2.expert_used_count", U32, 2),
        ("deepseek2.expert_feed_forward_length", U32, 8), ("deepseek2.leading_dense_block_count", U32, 1),
        ("deepseek2.expert_gating_func", U32, 2), ("deepseek2.rope.scaling.type", STRING, "yarn"),
        ("deepseek2.rope.scaling.factor", F32, 4.0), ("deepseek2.rope.scaling.yarn_log_multiplier", F32, 0.1),
    ]
    gemma = [
        ("general.architecture", STRING, "gemma3"), ("gemma3.vocab_size", U32, 32), ("gemma3.embedding_length", U32, 8),
        ("gemma3.feed_forward_length", U32, 16), ("gemma3.block_count", U32, 6), ("gemma3.attention.head_count", U32, 2),
        ("gemma3.attention.key_length", U32, 4), ("gemma3.attention.sliding_window", U32, 16),
    ]
    return {
        "every-type-v3": gguf_file(every_type, tensors),
        "every-type-v2": gguf_file(every_type, tensors, version=2),
        "align-64": gguf_file([("general.alignment", U32, 64)] + every_type[:3], tensors[:2], alignment=64),
        "llama": gguf_file(llama, llama_tensors),
        "deepseek2": gguf_file(deepseek, [("blk.1.ffn_gate_inp.weight", 0, [16, 4]), ("blk.1.exp_probs_b.bias", 0, [4])]),
        "gemma3": gguf_file(gemma, [("token_embd.weight", 0, [8, 32])]),
        "k-quants": gguf_file([("general.architecture", STRING, "test")], [("a", 12, [256]), ("b", 14, [256, 2])]),
        "empty": gguf_file([]),
    }


# --- safetensors --------------------------------------------------------------------------------
SAFETENSORS_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                     "U8": 1, "BOOL": 1}


def safetensors_file(tensors, metadata=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        elements = 1
        for d in shape:
            elements *= d
        size = elements * SAFETENSORS_SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += bytes((i * 5 + 1) % 256 for i in range(size))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    every = [("t." + dtype.lower(), dtype, [2, 3]) for dtype in SAFETENSORS_SIZES]
    return {
        "every-dtype": safetensors_file(every, {"format": "pt"}),
        "scalar-and-empty": safetensors_file([("scalar", "F32", []), ("empty", "BF16", [0, 4])]),
        "model": safetensors_file([("model.embed_tokens.weight", "BF16", [16, 8]),
                                   ("model.layers.0.self_attn.q_proj.weight", "BF16", [8, 8]),
                                   ("model.norm.weight", "F32", [8])], {"format": "pt", "quant_method": "gptq"}),
        "empty-header": safetensors_file([]),
    }


# --- config.json --------------------------------------------------------------------------------
def decoder(architecture, model_type, **extra):
    config = {"architectures": [architecture], "model_type": model_type, "vocab_size": 64, "hidden_size": 16,
              "intermediate_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
              "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
              "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
    config.update(extra)
    return config


def config_seeds():
    seeds = {
        "llama3": decoder("LlamaForCausalLM", "llama", rope_scaling={
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64}),
        "llama-linear-legacy": decoder("LlamaForCausalLM", "llama", rope_scaling={"type": "linear", "factor": 2}),
        "llama-rope-parameters": decoder("LlamaForCausalLM", "llama", rope_parameters={
            "rope_type": "yarn", "rope_theta": 50000.0, "factor": 4.0, "beta_fast": 32, "beta_slow": 1}),
        "mistral": decoder("MistralForCausalLM", "mistral", sliding_window=8, head_dim=8),
        "qwen2": decoder("Qwen2ForCausalLM", "qwen2", use_sliding_window=True, sliding_window=16, max_window_layers=2),
        "qwen3": decoder("Qwen3ForCausalLM", "qwen3", head_dim=8, tie_word_embeddings=True,
                         quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 32, "desc_act": True}),
        "qwen3-moe": decoder("Qwen3MoeForCausalLM", "qwen3_moe", num_experts=4, num_experts_per_tok=2,
                             moe_intermediate_size=8, norm_topk_prob=True, mlp_only_layers=[0], decoder_sparse_step=1),
        "gemma3": decoder("Gemma3ForCausalLM", "gemma3_text", head_dim=8, sliding_window=8, sliding_window_pattern=2,
                          rope_local_base_freq=10000.0, query_pre_attn_scalar=8, final_logit_softcapping=30.0),
        "gemma3-layer-types": decoder("Gemma3ForCausalLM", "gemma3_text", sliding_window=8,
                                      layer_types=["sliding_attention", "full_attention"] * 2, rope_parameters={
                                          "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                                          "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}),
        "gemma3-vlm": {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                       "text_config": {"hidden_size": 32, "num_hidden_layers": 6, "sliding_window": 16},
                       "vision_config": {"hidden_size": 16}, "eos_token_id": [1, 106]},
        "deepseek-v3": decoder("DeepseekV3ForCausalLM", "deepseek_v3", n_routed_experts=4, num_experts_per_tok=2,
                               moe_intermediate_size=8, n_shared_experts=1, first_k_dense_replace=1, n_group=2,
                               topk_group=1, q_lora_rank=8, kv_lora_rank=8, qk_nope_head_dim=4, qk_rope_head_dim=4,
                               v_head_dim=4, scoring_func="sigmoid", topk_method="noaux_tc",
                               rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64,
                                             "mscale": 1.0, "mscale_all_dim": 1.0}),
        "bert": {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": 64, "hidden_size": 16,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 32, "layer_norm_eps": 1e-12},
        "whisper": {"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper", "vocab_size": 64,
                    "d_model": 16, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2,
                    "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "suppress_tokens": [1]},
        "clip": {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 8,
                 "text_config": {"hidden_size": 16, "num_hidden_layers": 2},
                 "vision_config": {"image_size": 32, "patch_size": 8}},
        "awq": decoder("LlamaForCausalLM", "llama", quantization_config={
            "quant_method": "awq", "bits": 4, "group_size": 64, "zero_point": True, "version": "gemm"}),
        "quantize-config": {"bits": 4, "group_size": 128, "desc_act": False, "sym": True},
    }
    return {name: json.dumps(config, indent=1).encode() for name, config in seeds.items()}


def write(kind, seeds):
    directory = os.path.join(CORPUS, kind)
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as out:
            out.write(data)


if __name__ == "__main__":
    write("fuzz-gguf", gguf_seeds())
    write("fuzz-safetensors", safetensors_seeds())
    write("fuzz-hf-config", config_seeds())
