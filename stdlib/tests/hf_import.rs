//! Importing published `config.json` files: the parameter counts must equal
//! what Hugging Face reports for the checkpoint.
use rooflaw_stdlib::hf::{self, HfError};

fn fixture(name: &str) -> rooflaw_stdlib::Architecture {
    let path = format!(
        "{}/tests/fixtures/hf/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    hf::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn parameter_counts_equal_hugging_faces() {
    // (fixture, total parameters as Hugging Face counts them)
    let cases = [
        ("qwen2.5-0.5b", 494_032_768),
        ("llama-3.2-1b", 1_235_814_400),
        ("llama-2-7b", 6_738_415_616),
        ("mixtral-8x7b", 46_702_792_704),
        ("olmoe-1b-7b", 6_919_161_856),
        ("qwen3-0.6b", 596_049_920),
        ("gemma-2-2b", 2_614_341_888),
        ("phi-3-mini-4k", 3_821_079_552),
        ("qwen1.5-moe-a2.7b", 14_315_784_192),
        ("qwen3-30b-a3b", 30_532_122_624),
    ];
    for (name, total) in cases {
        assert_eq!(fixture(name).params_total(), total, "{name}");
    }
}

#[test]
fn active_parameters_match_the_model_cards() {
    // Model cards round: OLMoE "1.3B active", Qwen3-30B-A3B "3.3B activated",
    // Qwen1.5-MoE-A2.7B "2.7B activated" (the card counts it without
    // embeddings: 2.0B non-embedding), Mixtral "12.9B active".
    let cases = [
        ("olmoe-1b-7b", 1.3e9, 0.05),
        ("qwen3-30b-a3b", 3.3e9, 0.05),
        ("mixtral-8x7b", 12.9e9, 0.02),
    ];
    for (name, card, tol) in cases {
        let active = fixture(name).params_active() as f64;
        assert!((active / card - 1.0).abs() < tol, "{name}: {active}");
    }
    // Qwen3-0.6B's card: "Number of Parameters (Non-Embedding): 0.44B".
    assert_eq!(fixture("qwen3-0.6b").params_non_embedding(), 440_467_456);
}

#[test]
fn family_details_are_read() {
    let q = fixture("qwen2.5-0.5b");
    assert!(q.qkv_bias && q.tied_embeddings && !q.qk_norm);
    assert_eq!((q.heads, q.kv_heads, q.head_dim), (14, 2, 64));
    let g = fixture("gemma-2-2b");
    assert!(g.tied_embeddings, "Gemma ties embeddings by default");
    assert_eq!((g.head_dim, g.norms_per_layer), (256, 4));
    let o = fixture("olmoe-1b-7b");
    assert!(o.qk_norm && o.qk_norm_full);
    assert_eq!((o.experts, o.top_k, o.ffn), (64, 8, 1024));
    let m = fixture("qwen1.5-moe-a2.7b");
    assert_eq!(
        (m.experts, m.top_k, m.ffn, m.shared_experts, m.shared_ffn),
        (60, 4, 1408, 1, 5632)
    );
}

#[test]
fn bad_configs_get_clear_errors() {
    let cases = [
        ("[1, 2]", "config.json must be a JSON object"),
        ("{\"hidden_size\": 8}", "config.json has no `model_type`"),
        (
            "{\"model_type\": \"gpt2\"}",
            "model_type `gpt2` is not supported",
        ),
        (
            r#"{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
                "num_hidden_layers": 2, "vocab_size": 100}"#,
            "llama config.json is missing `intermediate_size`",
        ),
        (
            r#"{"model_type": "llama", "hidden_size": "64"}"#,
            "`hidden_size` must be a non-negative integer, got \"64\"",
        ),
        (
            r#"{"model_type": "llama", "attention_bias": true}"#,
            "llama: `attention_bias` = true is not supported",
        ),
        (
            r#"{"model_type": "qwen3_moe", "mlp_only_layers": [0, 5]}"#,
            "qwen3_moe: `mlp_only_layers` = [0,5] is not supported",
        ),
        (
            r#"{"model_type": "mistral", "hidden_size": 64, "num_attention_heads": 4,
                "num_key_value_heads": 3, "num_hidden_layers": 2, "vocab_size": 100,
                "intermediate_size": 128}"#,
            "mistral: architecture: heads (4) must be a multiple of kv_heads (3)",
        ),
        ("{not json", "config.json is not valid JSON"),
    ];
    for (text, want) in cases {
        let err: HfError = hf::from_json(text).unwrap_err();
        assert!(err.to_string().starts_with(want), "{text}: got `{err}`");
    }
}
