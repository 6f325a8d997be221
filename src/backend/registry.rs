//! The one table of backends: every name a user can type, the cargo feature that compiles it in, how to
//! tell whether this machine can run it, and how to build it. Front ends (CLI, live, bench, plugin,
//! Python) ask [`create`] for a backend by name and get an [`AnyBackend`], which implements
//! [`Backend`] by enum dispatch, so one `Denoiser<AnyBackend>` type serves them all. Nothing outside
//! `backend/` constructs a backend.
use std::path::Path;
use std::sync::Arc;

use super::native::{self, Int8Kernel, NativeBackend, NativeState, WeightPrecision};
use super::{Backend, Features, ModelOutput, SeqFeatures, SeqModelOutput};
use crate::config::ModelConfig;
use crate::model::{embedded, Weights};
use crate::stage::Stage;
use crate::{Error, Result};

/// The backend every front end (`enhance`, `live`, `bench`'s listing, the plugin, the GStreamer element,
/// the C API, the Python package) uses unless told otherwise, on this machine: see
/// [`default_backend_for`]. Cheap (the CPU query is cached), so front ends call it rather than keep a copy.
pub fn default_backend() -> &'static str {
    default_backend_for(native::int8_kernel())
}

/// The rule behind [`default_backend`], given the 8-bit kernel `native-i8` would run
/// ([`native::int8_kernel_for`] turns CPU features into it): `native-i8` wherever one of its fast
/// kernels runs (AVX512-VNNI, AVX-VNNI, or AVX2 without VNNI, where it is as fast as `native-f16`), with
/// the same dev-set scores as `f32` (docs/native_i8.md); `native-f16` elsewhere, where the portable
/// integer kernel is slower than even `f32` weights.
pub fn default_backend_for(kernel: Int8Kernel) -> &'static str {
    match kernel {
        Int8Kernel::Avx512Vnni | Int8Kernel::AvxVnni | Int8Kernel::Avx2 => {
            native_name(WeightPrecision::I8)
        }
        Int8Kernel::Portable => native_name(WeightPrecision::F16),
    }
}

/// The rule and what it gives here, in one sentence for help texts and listings.
pub fn default_backend_rule() -> String {
    format!(
        "The default backend is native-i8 on CPUs where its AVX2, AVX-VNNI or AVX512-VNNI kernels run, \
         else native-f16; on this machine: {} ({} kernel).",
        default_backend(),
        native::int8_kernel().label()
    )
}

/// What a table row builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Native(WeightPrecision),
    /// libtorch; `graphs`: CUDA graphs as `DFN4_CUDA_GRAPHS` says (else none).
    Tch {
        device: TchDevice,
        graphs: bool,
    },
    Mlx {
        gpu: bool,
    },
}

/// The libtorch devices a `tch-*` backend runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TchDevice {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU.
    Cuda,
    /// Apple's Metal (MPS).
    Mps,
}

/// One row of the table.
#[derive(Debug)]
pub struct BackendInfo {
    /// The name users type (`--backend NAME`).
    pub name: &'static str,
    /// The cargo feature that compiles it in (`None`: always there).
    pub feature: Option<&'static str>,
    /// One line for `--help` and listings.
    pub summary: &'static str,
    engine: Engine,
}

/// Every backend, in the order they are listed to users.
pub const BACKENDS: &[BackendInfo] = &[
    BackendInfo {
        name: "native",
        feature: None,
        summary: "pure-Rust engine, f32 weights: the exact reference",
        engine: Engine::Native(WeightPrecision::F32),
    },
    BackendInfo {
        name: "native-f16",
        feature: None,
        summary: "pure-Rust engine, half-float weights widened to f32",
        engine: Engine::Native(WeightPrecision::F16),
    },
    BackendInfo {
        name: "native-i8",
        feature: None,
        summary: "pure-Rust engine, 8-bit weights and activations (VNNI where the CPU has it)",
        engine: Engine::Native(WeightPrecision::I8),
    },
    BackendInfo {
        name: "tch-cpu",
        feature: Some("tch"),
        summary: "libtorch on the CPU",
        engine: Engine::Tch {
            device: TchDevice::Cpu,
            graphs: false,
        },
    },
    BackendInfo {
        name: "tch-cuda",
        feature: Some("tch"),
        summary: "libtorch on CUDA, replaying CUDA graphs",
        engine: Engine::Tch {
            device: TchDevice::Cuda,
            graphs: true,
        },
    },
    BackendInfo {
        name: "tch-cuda-eager",
        feature: Some("tch"),
        summary: "libtorch on CUDA without CUDA graphs",
        engine: Engine::Tch {
            device: TchDevice::Cuda,
            graphs: false,
        },
    },
    BackendInfo {
        name: "tch-mps",
        feature: Some("tch"),
        summary: "libtorch on Apple's Metal (MPS)",
        engine: Engine::Tch {
            device: TchDevice::Mps,
            graphs: false,
        },
    },
    BackendInfo {
        name: "mlx-cpu",
        feature: Some("mlx"),
        summary: "MLX on the CPU",
        engine: Engine::Mlx { gpu: false },
    },
    BackendInfo {
        name: "mlx-gpu",
        feature: Some("mlx"),
        summary: "MLX on the GPU (Metal, or CUDA with the mlx-cuda build)",
        engine: Engine::Mlx { gpu: true },
    },
];

impl BackendInfo {
    /// Whether this build has the backend compiled in.
    pub fn compiled(&self) -> bool {
        match self.feature {
            None => true,
            Some("tch") => cfg!(feature = "tch"),
            Some("mlx") => cfg!(feature = "mlx"),
            Some(_) => false,
        }
    }

    /// Ok when the backend is compiled in and this machine has its device, else the one-line reason.
    pub fn availability(&self) -> Result<()> {
        if !self.compiled() {
            return Err(not_compiled(self));
        }
        match self.engine {
            Engine::Native(_) => Ok(()),
            #[cfg(feature = "tch")]
            Engine::Tch { device, .. } => super::tch::device(device, self.name).map(|_| ()),
            #[cfg(feature = "mlx")]
            Engine::Mlx { gpu } => super::mlx::device(mlx_device(gpu), self.name).map(|_| ()),
            #[allow(unreachable_patterns)]
            _ => Err(not_compiled(self)),
        }
    }
}

#[cfg(feature = "mlx")]
fn mlx_device(gpu: bool) -> super::mlx::MlxDevice {
    if gpu {
        super::mlx::MlxDevice::Gpu
    } else {
        super::mlx::MlxDevice::Cpu
    }
}

fn not_compiled(info: &BackendInfo) -> Error {
    Error::Config(format!(
        "backend \"{}\" is not compiled into this build (needs cargo feature \"{}\"; compiled in: {})",
        info.name,
        info.feature.unwrap_or("?"),
        compiled_names().join(", ")
    ))
}

/// The names of the backends compiled into this build, in table order.
pub fn compiled_names() -> Vec<&'static str> {
    BACKENDS
        .iter()
        .filter(|b| b.compiled())
        .map(|b| b.name)
        .collect()
}

/// The backends compiled in and usable on this machine (a device backend without its device is left out).
pub fn usable_names() -> Vec<&'static str> {
    BACKENDS
        .iter()
        .filter(|b| b.availability().is_ok())
        .map(|b| b.name)
        .collect()
}

/// The row called `name`: an unknown name lists the compiled-in ones, a known one that this build lacks
/// names its cargo feature. Does not check the device (see [`BackendInfo::availability`]).
pub fn lookup(name: &str) -> Result<&'static BackendInfo> {
    let info = BACKENDS.iter().find(|b| b.name == name).ok_or_else(|| {
        Error::Config(format!(
            "unknown backend \"{name}\" (available: {})",
            compiled_names().join(", ")
        ))
    })?;
    if info.compiled() {
        Ok(info)
    } else {
        Err(not_compiled(info))
    }
}

/// The name of the native engine that stores its dense weights in `precision`.
pub fn native_name(precision: WeightPrecision) -> &'static str {
    BACKENDS
        .iter()
        .find(|b| b.engine == Engine::Native(precision))
        .map_or("native", |b| b.name)
}

/// The name of the libtorch backend on `device`, with or without CUDA graphs.
pub fn tch_name(device: TchDevice, graphs: bool) -> &'static str {
    let graphs = graphs && device == TchDevice::Cuda;
    BACKENDS
        .iter()
        .find(|b| b.engine == Engine::Tch { device, graphs })
        .map_or("tch", |b| b.name)
}

/// The name of the MLX backend on the GPU (`gpu`) or the CPU.
pub fn mlx_name(gpu: bool) -> &'static str {
    BACKENDS
        .iter()
        .find(|b| b.engine == Engine::Mlx { gpu })
        .map_or("mlx", |b| b.name)
}

/// Where the weights come from.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    /// The trained weights compiled into this build.
    Embedded,
    /// A safetensors file; its config from the `.json` beside it when present.
    File(&'a Path),
    /// Weights already in memory (tests, the trainer's export).
    Weights(&'a Weights<'a>),
}

impl ModelSource<'_> {
    /// `--model PATH` if given, else the embedded weights.
    pub fn from_option(path: Option<&Path>) -> ModelSource<'_> {
        path.map_or(ModelSource::Embedded, ModelSource::File)
    }

    fn with_weights<T>(self, f: impl FnOnce(&Weights) -> Result<T>) -> Result<T> {
        match self {
            ModelSource::Embedded => f(&embedded::load()?),
            ModelSource::File(path) => f(&Weights::load(path).map_err(|e| {
                Error::Config(format!("cannot load model {}: {e}", path.display()))
            })?),
            ModelSource::Weights(w) => f(w),
        }
    }
}

/// Builds the backend called `name` from `model`. The device is checked before the weights are read
/// (a missing device is the more basic problem); parsed weights are dropped once the backend holds its
/// own copy in its layout.
pub fn create(name: &str, model: ModelSource<'_>) -> Result<AnyBackend> {
    let info = lookup(name)?;
    info.availability()?;
    model.with_weights(|w| build(info, w))
}

/// One backend per name in `names`, sharing one parse of the weights; a name given twice gets the same
/// backend (its weights are immutable and shareable between threads).
pub fn create_many(names: &[&str], model: ModelSource<'_>) -> Result<Vec<Arc<AnyBackend>>> {
    if names.is_empty() {
        return Err(Error::Config("no backend named".into()));
    }
    let infos = names
        .iter()
        .map(|n| {
            let info = lookup(n)?;
            info.availability()?;
            Ok(info)
        })
        .collect::<Result<Vec<_>>>()?;
    model.with_weights(|w| {
        let mut built: Vec<Arc<AnyBackend>> = Vec::with_capacity(infos.len());
        for info in infos {
            let backend = match built.iter().find(|b| b.name() == info.name) {
                Some(b) => Arc::clone(b),
                None => Arc::new(build(info, w)?),
            };
            built.push(backend);
        }
        Ok(built)
    })
}

fn build(info: &'static BackendInfo, weights: &Weights) -> Result<AnyBackend> {
    let context =
        |e: Error| Error::Backend(format!("cannot create the {} backend: {e}", info.name));
    let inner = match info.engine {
        Engine::Native(precision) => {
            Inner::Native(NativeBackend::with_precision(weights, precision).map_err(context)?)
        }
        #[cfg(feature = "tch")]
        Engine::Tch { device, graphs } => {
            use super::tch::{CudaGraphs, TchBackend};
            let device = super::tch::device(device, info.name)?;
            // With graphs: as DFN4_CUDA_GRAPHS says, falling back to eager where the shim cannot load.
            let built = if graphs {
                TchBackend::new(weights, device)
            } else {
                TchBackend::with_cuda_graphs(weights, device, CudaGraphs::Off)
            };
            Inner::Tch(built.map_err(context)?)
        }
        #[cfg(feature = "mlx")]
        Engine::Mlx { gpu } => {
            let device = super::mlx::device(mlx_device(gpu), info.name)?;
            Inner::Mlx(super::mlx::MlxBackend::new(weights, device).map_err(context)?)
        }
        #[allow(unreachable_patterns)]
        _ => return Err(not_compiled(info)),
    };
    Ok(AnyBackend {
        name: info.name,
        inner,
    })
}

/// Any backend of the table, behind one type.
pub struct AnyBackend {
    name: &'static str,
    inner: Inner,
}

/// The engines compiled into this build.
// One value per backend, built once: boxing the native engine to even the variants out would only add
// an indirection to every step of the default engine.
#[allow(clippy::large_enum_variant)]
pub enum Inner {
    /// The pure-Rust engine (any weight precision).
    Native(NativeBackend),
    /// libtorch.
    #[cfg(feature = "tch")]
    Tch(super::tch::TchBackend),
    /// MLX.
    #[cfg(feature = "mlx")]
    Mlx(super::mlx::MlxBackend),
}

/// The recurrent state of an [`AnyBackend`]: the state type of the engine inside.
// One value per stream, made once (see [`Inner`]).
#[allow(clippy::large_enum_variant)]
pub enum AnyState {
    /// State of the native engine.
    Native(NativeState),
    /// State of the libtorch engine.
    #[cfg(feature = "tch")]
    Tch(<super::tch::TchBackend as Backend>::State),
    /// State of the MLX engine.
    #[cfg(feature = "mlx")]
    Mlx(<super::mlx::MlxBackend as Backend>::State),
}

impl AnyBackend {
    /// Wraps an engine built elsewhere in `backend/` (the parity tests build engines with options the
    /// table does not offer).
    pub fn from_native(name: &'static str, native: NativeBackend) -> Self {
        Self {
            name,
            inner: Inner::Native(native),
        }
    }

    /// The engine inside, for the hooks that are specific to one engine (device sync, training step).
    pub fn inner(&self) -> &Inner {
        &self.inner
    }
}

fn state_mismatch(name: &str) -> Error {
    Error::InvalidInput(format!(
        "the state passed to {name} belongs to another backend"
    ))
}

/// Forwards a call to the engine inside, and the engine's own state with it.
macro_rules! dispatch {
    ($self:ident, $state:ident, |$b:ident, $s:ident| $call:expr) => {
        match (&$self.inner, $state) {
            (Inner::Native($b), AnyState::Native($s)) => $call,
            #[cfg(feature = "tch")]
            (Inner::Tch($b), AnyState::Tch($s)) => $call,
            #[cfg(feature = "mlx")]
            (Inner::Mlx($b), AnyState::Mlx($s)) => $call,
            #[allow(unreachable_patterns)]
            _ => Err(state_mismatch($self.name)),
        }
    };
    ($self:ident, |$b:ident| $call:expr) => {
        match &$self.inner {
            Inner::Native($b) => $call,
            #[cfg(feature = "tch")]
            Inner::Tch($b) => $call,
            #[cfg(feature = "mlx")]
            Inner::Mlx($b) => $call,
        }
    };
}

impl Backend for AnyBackend {
    type State = AnyState;

    fn name(&self) -> &'static str {
        self.name
    }

    fn config(&self) -> &ModelConfig {
        dispatch!(self, |b| b.config())
    }

    fn new_state(&self, batch: usize) -> Result<AnyState> {
        match &self.inner {
            Inner::Native(b) => b.new_state(batch).map(AnyState::Native),
            #[cfg(feature = "tch")]
            Inner::Tch(b) => b.new_state(batch).map(AnyState::Tch),
            #[cfg(feature = "mlx")]
            Inner::Mlx(b) => b.new_state(batch).map(AnyState::Mlx),
        }
    }

    fn reset_state(&self, state: &mut AnyState) {
        let _ = dispatch!(self, state, |b, s| {
            b.reset_state(s);
            Ok(())
        });
    }

    fn step(&self, feats: &Features, state: &mut AnyState, out: &mut ModelOutput) -> Result<()> {
        dispatch!(self, state, |b, s| b.step(feats, s, out))
    }

    fn step_probed(
        &self,
        feats: &Features,
        state: &mut AnyState,
        out: &mut ModelOutput,
        probe: &mut dyn FnMut(Stage),
    ) -> Result<()> {
        dispatch!(self, state, |b, s| b.step_probed(feats, s, out, probe))
    }

    fn run_sequence(&self, feats: &SeqFeatures, out: &mut SeqModelOutput) -> Result<()> {
        dispatch!(self, |b| b.run_sequence(feats, out))
    }

    fn step_block(
        &self,
        feats: &SeqFeatures,
        state: &mut AnyState,
        out: &mut SeqModelOutput,
    ) -> Result<()> {
        dispatch!(self, state, |b, s| b.step_block(feats, s, out))
    }

    fn reserve_block(&self, state: &mut AnyState, frames: usize) -> Result<()> {
        dispatch!(self, state, |b, s| b.reserve_block(s, frames))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_name_and_the_default_is_native() {
        for (i, b) in BACKENDS.iter().enumerate() {
            assert!(
                BACKENDS[i + 1..].iter().all(|o| o.name != b.name),
                "{} twice",
                b.name
            );
        }
        assert_eq!(compiled_names()[0], "native");
        assert!(compiled_names().contains(&default_backend()));
        assert_eq!(native_name(WeightPrecision::F16), "native-f16");
        assert_eq!(tch_name(TchDevice::Cuda, false), "tch-cuda-eager");
        assert_eq!(tch_name(TchDevice::Cpu, true), "tch-cpu");
        assert_eq!(mlx_name(true), "mlx-gpu");
    }

    #[test]
    fn the_default_follows_the_cpu_features() {
        let none = native::CpuFeatures::default();
        let avx2 = native::CpuFeatures {
            avx2: true,
            fma: true,
            f16c: true,
            ..none
        };
        let rule = |f| default_backend_for(native::int8_kernel_for(f));
        // Without x86 AVX2 kernels (any CPU off x86_64 too) the portable integer kernel would run.
        assert_eq!(rule(none), "native-f16");
        assert_eq!(
            rule(native::CpuFeatures { fma: false, ..avx2 }),
            "native-f16"
        );
        assert_eq!(
            rule(native::CpuFeatures {
                avx512f: true,
                avx512vnni: true,
                ..none
            }),
            "native-f16"
        );
        let x86 = cfg!(target_arch = "x86_64");
        let i8_or_f16 = if x86 { "native-i8" } else { "native-f16" };
        assert_eq!(rule(avx2), i8_or_f16);
        let avx_vnni = native::CpuFeatures {
            avxvnni: true,
            ..avx2
        };
        let avx512_vnni = native::CpuFeatures {
            avx512f: true,
            avx512bw: true,
            avx512vnni: true,
            ..avx2
        };
        let avx512 = native::CpuFeatures {
            avx512f: true,
            avx512bw: true,
            ..avx2
        };
        // AVX-512 without BW (Xeon Phi): the AVX2 level, the same kernel.
        let avx512_no_bw = native::CpuFeatures {
            avx512bw: false,
            ..avx512
        };
        assert_eq!(rule(avx_vnni), i8_or_f16);
        assert_eq!(rule(avx512_vnni), i8_or_f16);
        assert_eq!(rule(avx512), i8_or_f16);
        assert_eq!(rule(avx512_no_bw), i8_or_f16);
        if x86 {
            assert_eq!(native::int8_kernel_for(avx_vnni), Int8Kernel::AvxVnni);
            assert_eq!(native::int8_kernel_for(avx512_vnni), Int8Kernel::Avx512Vnni);
            assert_eq!(native::int8_kernel_for(avx512), Int8Kernel::Avx2);
            assert_eq!(native::int8_kernel_for(avx512_no_bw), Int8Kernel::Avx2);
        }
        // This machine: the same rule on what the CPU reports, and the sentence names the outcome.
        assert_eq!(default_backend(), rule(native::CpuFeatures::detect()));
        assert!(
            default_backend_rule().contains(&format!("on this machine: {} (", default_backend()))
        );
    }

    #[test]
    fn names_are_checked_with_one_line_reasons() {
        lookup("native").unwrap();
        let unknown = lookup("cuda").unwrap_err().to_string();
        assert!(
            unknown.contains("unknown backend \"cuda\" (available: native, native-f16"),
            "{unknown}"
        );
        if !cfg!(feature = "mlx") {
            let mlx = lookup("mlx-gpu").unwrap_err().to_string();
            assert!(mlx.contains("not compiled into this build"), "{mlx}");
            assert!(mlx.contains("\"mlx\""), "{mlx}");
            assert!(!mlx.contains('\n'));
        }
        assert_eq!(usable_names()[0], "native");
    }

    #[test]
    fn any_backend_equals_the_engine_inside_and_refuses_foreign_state() {
        let cfg = ModelConfig::default();
        let weights = Weights::random(&cfg, 5);
        let any = create("native", ModelSource::Weights(&weights)).unwrap();
        let native = NativeBackend::new(&weights).unwrap();
        assert_eq!(any.name(), "native");
        let mut feats = Features::zeros(&cfg, 1);
        for (i, x) in feats.erb.iter_mut().enumerate() {
            *x = (i as f32 * 0.37).sin();
        }
        let (mut a, mut b) = (ModelOutput::zeros(&cfg, 1), ModelOutput::zeros(&cfg, 1));
        let mut sa = any.new_state(1).unwrap();
        let mut sb = native.new_state(1).unwrap();
        for _ in 0..3 {
            any.step(&feats, &mut sa, &mut a).unwrap();
            native.step(&feats, &mut sb, &mut b).unwrap();
        }
        assert_eq!(a, b);

        let shared = create_many(
            &["native-f16", "native", "native-f16"],
            ModelSource::Weights(&weights),
        )
        .unwrap();
        assert!(Arc::ptr_eq(&shared[0], &shared[2]));
        assert_eq!(shared[1].name(), "native");
    }

    #[test]
    fn a_missing_model_file_is_named() {
        let err = create(
            "native",
            ModelSource::File(Path::new("/nonexistent/m.safetensors")),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("cannot load model /nonexistent/m.safetensors"),
            "{err}"
        );
    }
}
