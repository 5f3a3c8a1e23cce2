//! A binary built with `-C target-cpu=native` (the performance build in the README) may
//! use instructions another CPU lacks; checked first thing, so that such a binary copied to
//! an older machine says what is wrong instead of dying on an illegal instruction.
//!
//! Best effort: this check is compiled with the same flags, so on a CPU missing even the
//! oldest of them (AVX on an AVX2 build) the start-up code may fault before it runs.
//! Builds without `target-cpu` need no check and pass it trivially.

/// The instruction-set extensions this binary was compiled to use that this CPU lacks.
pub fn missing_features() -> Vec<&'static str> {
    let mut missing = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! require {
            ($($feature:tt),*) => {$(
                if cfg!(target_feature = $feature) && !std::arch::is_x86_feature_detected!($feature) {
                    missing.push($feature);
                }
            )*};
        }
        // Every extension the compiler may assume once the builder's CPU allowed it.
        require!(
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "aes",
            "pclmulqdq",
            "sha",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "bmi1",
            "bmi2",
            "lzcnt",
            "movbe",
            "adx",
            "gfni",
            "vaes",
            "vpclmulqdq",
            "avx512f",
            "avx512cd",
            "avx512bw",
            "avx512dq",
            "avx512vl",
            "avx512ifma",
            "avx512vbmi",
            "avx512vbmi2",
            "avx512vnni",
            "avx512bitalg",
            "avx512vpopcntdq",
            "avx512bf16",
            "avx512fp16",
            "avxvnni",
            "cmpxchg16b"
        );
    }
    missing
}
