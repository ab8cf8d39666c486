//! ggml's tensor types and their block layouts: how many weights one block
//! holds and how many bytes it takes, as `ggml/src/ggml-common.h` declares
//! the block structs and `ggml.c`'s `type_traits` lists them. The ids are
//! those GGUF files store per tensor.
use serde::{Deserialize, Serialize};

/// One ggml tensor type.
#[allow(non_camel_case_types)] // ggml's own spelling, as users read it in file names
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GgmlType {
    // In GGUF id order, so a type indexes its row of TABLE.
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

/// (type, name, GGUF id, weights per block, bytes per block). The quantised
/// blocks: `Q4_0` = f16 scale + 32 nibbles = 18 B; `Q8_0` = f16 + 32 bytes =
/// 34 B; `Q4_K` = f16 d, dmin + 12 B of 6-bit scales + 128 B = 144 B per 256;
/// `Q6_K` = 128 B low + 64 B high bits + 16 scales + f16 = 210 B per 256; ...
const TABLE: [(GgmlType, &str, u32, u32, u32); 32] = [
    (GgmlType::F32, "F32", 0, 1, 4),
    (GgmlType::F16, "F16", 1, 1, 2),
    (GgmlType::Q4_0, "Q4_0", 2, 32, 18),
    (GgmlType::Q4_1, "Q4_1", 3, 32, 20),
    (GgmlType::Q5_0, "Q5_0", 6, 32, 22),
    (GgmlType::Q5_1, "Q5_1", 7, 32, 24),
    (GgmlType::Q8_0, "Q8_0", 8, 32, 34),
    (GgmlType::Q8_1, "Q8_1", 9, 32, 36),
    (GgmlType::Q2_K, "Q2_K", 10, 256, 84),
    (GgmlType::Q3_K, "Q3_K", 11, 256, 110),
    (GgmlType::Q4_K, "Q4_K", 12, 256, 144),
    (GgmlType::Q5_K, "Q5_K", 13, 256, 176),
    (GgmlType::Q6_K, "Q6_K", 14, 256, 210),
    (GgmlType::Q8_K, "Q8_K", 15, 256, 292),
    (GgmlType::IQ2_XXS, "IQ2_XXS", 16, 256, 66),
    (GgmlType::IQ2_XS, "IQ2_XS", 17, 256, 74),
    (GgmlType::IQ3_XXS, "IQ3_XXS", 18, 256, 98),
    (GgmlType::IQ1_S, "IQ1_S", 19, 256, 50),
    (GgmlType::IQ4_NL, "IQ4_NL", 20, 32, 18),
    (GgmlType::IQ3_S, "IQ3_S", 21, 256, 110),
    (GgmlType::IQ2_S, "IQ2_S", 22, 256, 82),
    (GgmlType::IQ4_XS, "IQ4_XS", 23, 256, 136),
    (GgmlType::I8, "I8", 24, 1, 1),
    (GgmlType::I16, "I16", 25, 1, 2),
    (GgmlType::I32, "I32", 26, 1, 4),
    (GgmlType::I64, "I64", 27, 1, 8),
    (GgmlType::F64, "F64", 28, 1, 8),
    (GgmlType::IQ1_M, "IQ1_M", 29, 256, 56),
    (GgmlType::BF16, "BF16", 30, 1, 2),
    (GgmlType::TQ1_0, "TQ1_0", 34, 256, 54),
    (GgmlType::TQ2_0, "TQ2_0", 35, 256, 66),
    (GgmlType::MXFP4, "MXFP4", 39, 32, 17),
];

impl GgmlType {
    fn row(self) -> (GgmlType, &'static str, u32, u32, u32) {
        TABLE[self as usize]
    }

    /// The type a GGUF tensor info's id names.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.into_iter().find(|r| r.2 == id).map(|r| r.0)
    }

    pub fn id(self) -> u32 {
        self.row().2
    }

    /// Weights per block and bytes per block.
    pub fn block(self) -> (u32, u32) {
        let (_, _, _, n, b) = self.row();
        (n, b)
    }

    /// Exact bytes per weight (block bytes over block weights).
    pub fn bytes_per_weight(self) -> f64 {
        let (n, b) = self.block();
        f64::from(b) / f64::from(n)
    }

    /// Bytes of a tensor of `n` weights (whole blocks, as every ggml row is).
    pub fn bytes(self, n: u64) -> u64 {
        let (w, b) = self.block();
        n.div_ceil(u64::from(w)) * u64::from(b)
    }

    /// ggml's name, `Q4_K`.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// Case-insensitive: `q4_k`, `Q4_K`.
    pub fn parse(s: &str) -> Option<GgmlType> {
        TABLE
            .into_iter()
            .map(|r| r.0)
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// Whether this is a block-quantised type (not a plain float or int).
    pub fn is_quantized(self) -> bool {
        self.block().0 > 1
    }

    /// Every type, in id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.into_iter().map(|r| r.0)
    }
}

#[cfg(test)]
mod tests {
    use super::GgmlType as T;

    /// The block sizes `ggml-common.h` asserts (`static_assert(sizeof(block_q4_0) == ...)`),
    /// written out from the struct fields.
    #[test]
    fn blocks_match_the_reference_layouts() {
        let qk_k = 256;
        let half = 2;
        let cases = [
            (T::Q4_0, 32, half + 32 / 2),
            (T::Q4_1, 32, 2 * half + 32 / 2),
            (T::Q5_0, 32, half + 4 + 32 / 2),
            (T::Q5_1, 32, 2 * half + 4 + 32 / 2),
            (T::Q8_0, 32, half + 32),
            (T::Q2_K, qk_k, qk_k / 16 + qk_k / 4 + 2 * half),
            (T::Q3_K, qk_k, qk_k / 8 + qk_k / 4 + 12 + half),
            (T::Q4_K, qk_k, 2 * half + 12 + qk_k / 2),
            (T::Q5_K, qk_k, 2 * half + 12 + qk_k / 8 + qk_k / 2),
            (T::Q6_K, qk_k, qk_k / 2 + qk_k / 4 + qk_k / 16 + half),
            (T::Q8_K, qk_k, 4 + qk_k + qk_k / 16 * 2),
            (T::IQ2_XXS, qk_k, half + qk_k / 8 * 2),
            (T::IQ2_XS, qk_k, half + qk_k / 8 * 2 + qk_k / 32),
            (T::IQ2_S, qk_k, half + qk_k / 4 + qk_k / 32 + qk_k / 32),
            (T::IQ3_XXS, qk_k, half + 3 * qk_k / 8),
            (
                T::IQ3_S,
                qk_k,
                half + qk_k / 4 + qk_k / 32 + qk_k / 8 + qk_k / 64,
            ),
            (T::IQ1_S, qk_k, half + qk_k / 8 + qk_k / 16),
            (T::IQ1_M, qk_k, qk_k / 8 + qk_k / 16 + qk_k / 32),
            (T::IQ4_NL, 32, half + 32 / 2),
            (T::IQ4_XS, qk_k, half + 2 + qk_k / 64 + qk_k / 2),
            (
                T::TQ1_0,
                qk_k,
                (qk_k - 4 * qk_k / 64) / 5 + qk_k / 64 + half,
            ),
            (T::TQ2_0, qk_k, qk_k / 4 + half),
            (T::MXFP4, 32, 1 + 32 / 2),
            (T::F16, 1, 2),
            (T::BF16, 1, 2),
            (T::F32, 1, 4),
        ];
        for (t, n, bytes) in cases {
            assert_eq!(t.block(), (n, bytes), "{t:?}");
        }
        assert_eq!(T::Q4_0.block(), (32, 18));
        assert_eq!(T::Q8_0.block(), (32, 34));
        assert_eq!(T::Q4_K.block(), (256, 144));
        assert_eq!(T::Q6_K.block(), (256, 210));
    }

    #[test]
    fn ids_and_names_round_trip() {
        for (i, t) in T::all().enumerate() {
            assert_eq!(t as usize, i, "{t:?} indexes its own row");
            assert_eq!(T::from_id(t.id()), Some(t));
            assert_eq!(T::parse(t.name()), Some(t));
            assert_eq!(T::parse(&t.name().to_ascii_lowercase()), Some(t));
        }
        assert_eq!(T::Q4_K.name(), "Q4_K");
        assert_eq!(T::IQ4_XS.id(), 23);
        assert_eq!(T::from_id(4), None, "Q4_2 was removed from ggml");
    }
}
