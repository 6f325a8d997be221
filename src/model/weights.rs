//! Loading, validating and writing DfNet4 weights (safetensors, f32, PyTorch-style keys). Parsing
//! borrows the tensors from the safetensors bytes where they are 4-byte aligned (the embedded weights
//! are), so the weights held in the binary are not copied a second time before a backend packs them.
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use super::spec::weight_specs;
use crate::config::ModelConfig;
use crate::{Error, Result};

/// One parameter tensor: its shape and row-major `f32` data (borrowed from the bytes it was parsed from,
/// or owned).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor<'a> {
    /// PyTorch-convention shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Cow<'a, [f32]>,
}

/// All DfNet4 parameters, validated against [`weight_specs`].
#[derive(Debug, Clone, PartialEq)]
pub struct Weights<'a> {
    cfg: ModelConfig,
    tensors: BTreeMap<String, Tensor<'a>>,
}

/// The little-endian `f32` values of `bytes`: borrowed when aligned (on a little-endian machine), else
/// decoded into a new vector.
fn f32_values(bytes: &[u8]) -> Cow<'_, [f32]> {
    match bytemuck::try_cast_slice::<u8, f32>(bytes) {
        Ok(values) if cfg!(target_endian = "little") => Cow::Borrowed(values),
        _ => Cow::Owned(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
    }
}

impl<'a> Weights<'a> {
    /// Parses a safetensors buffer and checks every name and shape against `cfg`. Tensors borrow from
    /// `bytes` where they are aligned.
    pub fn from_safetensors_bytes(cfg: &ModelConfig, bytes: &'a [u8]) -> Result<Self> {
        cfg.validate()?;
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Config(format!("not a valid safetensors file: {e}")))?;
        let mut tensors = BTreeMap::new();
        for spec in weight_specs(cfg) {
            let view = st
                .tensor(&spec.name)
                .map_err(|_| Error::WeightMissing(spec.name.clone()))?;
            if view.shape() != spec.shape.as_slice() {
                return Err(Error::WeightShape {
                    name: spec.name.clone(),
                    found: view.shape().to_vec(),
                    expected: spec.shape.clone(),
                });
            }
            if view.dtype() != Dtype::F32 {
                return Err(Error::Config(format!(
                    "weight {} has dtype {:?}, expected F32",
                    spec.name,
                    view.dtype()
                )));
            }
            let data = f32_values(view.data());
            if data.iter().any(|x| !x.is_finite()) {
                return Err(Error::Config(format!(
                    "weight {} holds NaN or Inf",
                    spec.name
                )));
            }
            tensors.insert(
                spec.name,
                Tensor {
                    shape: spec.shape,
                    data,
                },
            );
        }
        Ok(Self {
            cfg: cfg.clone(),
            tensors,
        })
    }

    /// Loads `<stem>.safetensors` with its config from `<stem>.json` if that exists (else the default
    /// config). The file's bytes are not kept: the tensors are copied out of them.
    pub fn load(path: &Path) -> Result<Weights<'static>> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Config(format!("cannot read weights file {}: {e}", path.display()))
        })?;
        let cfg_path = path.with_extension("json");
        let cfg = if cfg_path.exists() {
            config_from_json(&std::fs::read_to_string(&cfg_path)?)?
        } else {
            ModelConfig::default()
        };
        Ok(Weights::from_safetensors_bytes(&cfg, &bytes)?.into_owned())
    }

    /// The same weights, owning their data.
    pub fn into_owned(self) -> Weights<'static> {
        Weights {
            cfg: self.cfg,
            tensors: self
                .tensors
                .into_iter()
                .map(|(k, t)| {
                    let data = Cow::Owned(t.data.into_owned());
                    (
                        k,
                        Tensor {
                            shape: t.shape,
                            data,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Seeded random weights with PyTorch-like initial scales (for tests and benchmarks only; untrained).
    pub fn random(cfg: &ModelConfig, seed: u64) -> Weights<'static> {
        let mut rng = SplitMix64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut tensors = BTreeMap::new();
        for spec in weight_specs(cfg) {
            let n: usize = spec.shape.iter().product();
            let fan_in: usize = spec.shape.iter().skip(1).product::<usize>().max(1);
            let bound = 1.0 / (fan_in as f32).sqrt();
            let data: Vec<f32> = if spec.name.ends_with("A_log") {
                // S4D-real initialisation: A = -(1..=d_state), as mamba_ssm does.
                (0..n)
                    .map(|i| ((i % cfg.d_state) as f32 + 1.0).ln())
                    .collect()
            } else if spec.name.ends_with(".D")
                || spec.name.ends_with("norm.weight")
                || spec.name.ends_with("norm_f.weight")
            {
                vec![1.0; n]
            } else if spec.name.ends_with("dt_proj.bias") {
                // dt in [1e-3, 1e-1] after softplus, log-uniform (mamba_ssm's dt_init).
                (0..n)
                    .map(|_| {
                        let dt =
                            (rng.uniform() * (0.1f32.ln() - 0.001f32.ln()) + 0.001f32.ln()).exp();
                        dt + (-(-dt).exp_m1()).ln()
                    })
                    .collect()
            } else {
                (0..n)
                    .map(|_| (rng.uniform() * 2.0 - 1.0) * bound)
                    .collect()
            };
            tensors.insert(
                spec.name,
                Tensor {
                    shape: spec.shape,
                    data: Cow::Owned(data),
                },
            );
        }
        Weights {
            cfg: cfg.clone(),
            tensors,
        }
    }

    /// The configuration these weights were validated against.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The tensor called `name`; every name in [`weight_specs`] is present.
    pub fn get(&self, name: &str) -> Result<&Tensor<'a>> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::WeightMissing(name.to_string()))
    }

    /// All tensors by name.
    pub fn tensors(&self) -> &BTreeMap<String, Tensor<'a>> {
        &self.tensors
    }

    /// Serialises to safetensors bytes (f32, little endian).
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(k, t)| {
                let b = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                (k.clone(), b, t.shape.clone())
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(k, b, s)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| Error::Config(format!("cannot serialise {k}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, None)
            .map_err(|e| Error::Config(format!("cannot serialise weights: {e}")))
    }
}

/// Parses a [`ModelConfig`] from the JSON stored next to the weights. The JSON may hold more
/// (provenance); the model hyper-parameters live under `"model"` or at the top level.
pub fn config_from_json(text: &str) -> Result<ModelConfig> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::Config(format!("model json: {e}")))?;
    let m = v.get("model").cloned().unwrap_or(v);
    let cfg: ModelConfig =
        serde_json::from_value(m).map_err(|e| Error::Config(format!("model json: {e}")))?;
    cfg.validate()?;
    Ok(cfg)
}

/// Small deterministic generator so the library needs no `rand` dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_through_safetensors() {
        let cfg = ModelConfig::default();
        let w = Weights::random(&cfg, 7);
        let bytes = w.to_safetensors_bytes().unwrap();
        let back = Weights::from_safetensors_bytes(&cfg, &bytes).unwrap();
        assert_eq!(w, back);
    }

    #[test]
    fn names_the_missing_and_misshaped_weight() {
        let cfg = ModelConfig::default();
        let mut w = Weights::random(&cfg, 1);
        w.tensors.remove("mamba.layers.2.mixer.D");
        let err = Weights::from_safetensors_bytes(&cfg, &w.to_safetensors_bytes().unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "missing weight mamba.layers.2.mixer.D");

        let mut w = Weights::random(&cfg, 1);
        w.tensors.get_mut("enc.fuse.bias").unwrap().shape = vec![255];
        w.tensors
            .get_mut("enc.fuse.bias")
            .unwrap()
            .data
            .to_mut()
            .pop();
        let err = Weights::from_safetensors_bytes(&cfg, &w.to_safetensors_bytes().unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "shape of enc.fuse.bias is [255], expected [256]");
    }

    #[test]
    fn rejects_garbage() {
        let cfg = ModelConfig::default();
        assert!(Weights::from_safetensors_bytes(&cfg, b"not safetensors").is_err());
    }

    /// A safetensors file holding one tensor `name` with the declared `shape` over `data_len` bytes.
    fn declared(name: &str, shape: &str, data_len: usize) -> Vec<u8> {
        let header = format!(
            r#"{{"{name}":{{"dtype":"F32","shape":{shape},"data_offsets":[0,{data_len}]}}}}"#
        );
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.resize(bytes.len() + data_len, 0);
        bytes
    }

    #[test]
    fn refuses_an_absurd_shape_without_allocating_it() {
        let cfg = ModelConfig::default();
        // 2^80 elements over 4 bytes: the element count overflows and nothing is sized from it.
        let huge = declared("enc.fuse.bias", "[1099511627776,1099511627776]", 4);
        let err = Weights::from_safetensors_bytes(&cfg, &huge)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid configuration: not a valid safetensors file"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        // A shape that fits in memory but not in the file is refused the same way.
        let err =
            Weights::from_safetensors_bytes(&cfg, &declared("enc.fuse.bias", "[1073741824]", 4))
                .unwrap_err()
                .to_string();
        assert!(
            err.starts_with("invalid configuration: not a valid safetensors file"),
            "{err}"
        );
        // A header length far beyond the file.
        let mut lying = declared("enc.fuse.bias", "[1]", 4);
        lying[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(Weights::from_safetensors_bytes(&cfg, &lying).is_err());
    }

    #[test]
    fn refuses_a_config_with_absurd_sizes() {
        let json = |field: &str, value: &str| {
            let mut v = serde_json::to_value(ModelConfig::default()).unwrap();
            v[field] = serde_json::from_str(value).unwrap();
            config_from_json(&serde_json::json!({ "model": v }).to_string())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            json("d_model", "1099511627776"),
            "invalid configuration: d_model = 1099511627776 is above the limit of 8192"
        );
        assert_eq!(
            json("nb_erb", "1000000000"),
            "invalid configuration: nb_erb and nb_df must match the signal path (32 and 96)"
        );
        assert!(json("n_layers", "1000000000").contains("n_layers = 1000000000 is above"));
        assert!(json("d_state", "-1").starts_with("invalid configuration: model json:"));
        assert!(json("expand", "1e300").starts_with("invalid configuration: model json:"));
        // The shipped config stays valid.
        config_from_json(include_str!("../../models/dfn4.json")).unwrap();
    }

    #[test]
    fn random_is_deterministic() {
        let cfg = ModelConfig::default();
        assert_eq!(Weights::random(&cfg, 3), Weights::random(&cfg, 3));
        assert_ne!(Weights::random(&cfg, 3), Weights::random(&cfg, 4));
    }
}
