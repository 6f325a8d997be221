//! Embeds the shipped weights when `models/dfn4.safetensors` exists (sets cfg `dfn4_embedded`), and with
//! feature `tch` on Linux builds the CUDA-graph shim `csrc/cuda_graph.cpp` into a shared object that the
//! library embeds (sets cfg `dfn4_cuda_graph` and env `DFN4_CUDA_GRAPH_SO`), and beside it the fused
//! selective scan for training, `csrc/selective_scan.cpp` (env `DFN4_SELECTIVE_SCAN_SO`). The default
//! build compiles no C++.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    embed_weights();
    build_cuda_graph_shim();
}

fn embed_weights() {
    println!("cargo::rustc-check-cfg=cfg(dfn4_embedded)");
    println!("cargo::rerun-if-changed=models/dfn4.safetensors");
    println!("cargo::rerun-if-changed=models/dfn4.json");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let weights = Path::new(&dir).join("models/dfn4.safetensors");
    let config = Path::new(&dir).join("models/dfn4.json");
    if weights.exists() && config.exists() {
        println!("cargo::rustc-cfg=dfn4_embedded");
        println!("cargo::rustc-env=DFN4_WEIGHTS_PATH={}", weights.display());
        println!("cargo::rustc-env=DFN4_CONFIG_PATH={}", config.display());
    }
}

/// Compiles the shim against the libtorch that torch-sys found (`DEP_TCH_LIBTORCH_LIB`) and the CUDA
/// runtime headers next to it. A libtorch without CUDA headers (e.g. a CPU-only or macOS build) only
/// turns CUDA graphs off, with a build warning; a shim that fails to compile fails the build.
fn build_cuda_graph_shim() {
    println!("cargo::rustc-check-cfg=cfg(dfn4_cuda_graph)");
    println!("cargo::rerun-if-changed=csrc/cuda_graph.cpp");
    println!("cargo::rerun-if-changed=csrc/selective_scan.cpp");
    println!("cargo::rerun-if-changed=csrc/guarded.h");
    for var in [
        "DFN4_CUDA_INCLUDE",
        "DFN4_CUDA_LIB",
        "CUDA_HOME",
        "LIBTORCH_CXX11_ABI",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if std::env::var_os("CARGO_FEATURE_TCH").is_none() {
        return;
    }
    let skip = |why: &str| println!("cargo::warning=CUDA graphs disabled: {why}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return skip("the shim is only built on Linux");
    }
    let Some(torch_lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        return skip("torch-sys did not report its libtorch directory");
    };
    let torch_include = torch_lib.with_file_name("include");
    if !torch_include.join("ATen/cuda/CUDAGraph.h").exists() {
        return skip(&format!(
            "no ATen/cuda/CUDAGraph.h under {}",
            torch_include.display()
        ));
    }
    let Some(cuda_include) = cuda_include_dir(&torch_lib) else {
        return skip("no CUDA runtime headers (cuda_runtime_api.h with crt/host_config.h) found; set DFN4_CUDA_INCLUDE");
    };
    let Some((cudart_dir, cudart_file)) = cudart(&cuda_include) else {
        return skip("no libcudart.so* found; set DFN4_CUDA_LIB");
    };

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let ctx = ShimBuild {
        torch_include,
        torch_lib,
        cuda_include,
        cudart_dir,
        cudart_file,
    };
    let so = ctx.compile(
        "csrc/cuda_graph.cpp",
        &out_dir.join("libdfn4_cuda_graph.so"),
    );
    println!("cargo::rustc-cfg=dfn4_cuda_graph");
    println!("cargo::rustc-env=DFN4_CUDA_GRAPH_SO={}", so.display());
    let so = ctx.compile(
        "csrc/selective_scan.cpp",
        &out_dir.join("libdfn4_selective_scan.so"),
    );
    println!("cargo::rustc-env=DFN4_SELECTIVE_SCAN_SO={}", so.display());
}

/// What the shims are compiled and linked against.
struct ShimBuild {
    torch_include: PathBuf,
    torch_lib: PathBuf,
    cuda_include: PathBuf,
    cudart_dir: PathBuf,
    cudart_file: String,
}

impl ShimBuild {
    /// Compiles one C++ shim into the shared object `so`; a shim that fails to compile fails the build.
    fn compile(&self, source: &str, so: &Path) -> PathBuf {
        let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
        let compiler = cc::Build::new().cpp(true).pic(true).get_compiler();
        let mut cmd: Command = compiler.to_command();
        // -g0: the object is embedded in every binary; its debug info would only add size.
        cmd.args([
            "-std=c++17",
            "-O2",
            "-g0",
            "-shared",
            "-fvisibility=hidden",
            "-Wall",
            "-Wextra",
        ])
        .arg(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        // -isystem: the torch headers' own warnings are not ours to fix.
        .arg("-isystem")
        .arg(&self.torch_include)
        .arg("-isystem")
        .arg(self.torch_include.join("torch/csrc/api/include"))
        .arg("-isystem")
        .arg(&self.cuda_include)
        .arg(source)
        .arg("-o")
        .arg(so)
        .arg(format!("-L{}", self.torch_lib.display()))
        .arg(format!("-L{}", self.cudart_dir.display()))
        // Every symbol must resolve now, against these libraries, not at the first use on a GPU.
        .args(["-Wl,--no-undefined", "-Wl,--as-needed"])
        .args(["-ltorch_cuda", "-lc10_cuda", "-ltorch_cpu", "-lc10", "-ldl"])
        .arg(format!("-l:{}", self.cudart_file));
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run the C++ compiler for {source}: {e}"));
        if !out.status.success() {
            panic!(
                "{source} failed to build ({cmd:?}):\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        so.to_path_buf()
    }
}

/// The CUDA runtime include directory: `DFN4_CUDA_INCLUDE`, else the pip layout beside torch
/// (`nvidia/cu13`, `nvidia/cuda_runtime`), else `CUDA_HOME`, else `/usr/local/cuda`. The headers need
/// `crt/host_config.h`, which pip ships separately (`nvidia-cuda-crt`).
fn cuda_include_dir(torch_lib: &Path) -> Option<PathBuf> {
    let site = torch_lib.parent()?.parent()?;
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("DFN4_CUDA_INCLUDE") {
        candidates.push(dir.into());
    }
    for sub in ["nvidia/cu13/include", "nvidia/cuda_runtime/include"] {
        candidates.push(site.join(sub));
    }
    if let Some(home) = std::env::var_os("CUDA_HOME") {
        candidates.push(PathBuf::from(home).join("include"));
    }
    candidates.push("/usr/local/cuda/include".into());
    candidates
        .into_iter()
        .find(|d| d.join("cuda_runtime_api.h").exists() && d.join("crt/host_config.h").exists())
}

/// The directory and file name of the CUDA runtime library (`libcudart.so.N`, linked by exact name
/// since pip installs no unversioned `libcudart.so`).
fn cudart(cuda_include: &Path) -> Option<(PathBuf, String)> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("DFN4_CUDA_LIB") {
        dirs.push(dir.into());
    }
    let root = cuda_include.parent()?;
    dirs.extend([root.join("lib"), root.join("lib64")]);
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("libcudart.so"))
            .collect();
        // The shortest name is the SONAME (libcudart.so.13 before libcudart.so.13.0.96).
        names.sort_by_key(|n| n.len());
        if let Some(name) = names.into_iter().next() {
            return Some((dir, name));
        }
    }
    None
}
