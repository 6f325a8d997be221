//! What `dfn4 enhance PATHS...` means: which inputs go to which outputs, decided and checked before any
//! audio is read, so that a mistake (swapped arguments, an output that exists, a name the tool would not
//! honour) costs nothing and destroys nothing.
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use dfn4::audio_io::source::is_readable_extension;

/// Why directory mode leaves a file alone.
#[cfg(feature = "formats")]
const UNREADABLE: &str = "not an audio file dfn4 reads (WAV, FLAC, Ogg Vorbis, MP3, AAC/M4A, ALAC)";
#[cfg(not(feature = "formats"))]
const UNREADABLE: &str = "not a .wav file (this build reads WAV only)";

/// Where audio comes from or goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `-` (or `/dev/stdin`, `/dev/stdout`): the process's standard stream.
    Std,
    /// A path.
    Path(PathBuf),
}

impl Endpoint {
    fn parse(p: &Path) -> Self {
        match p.to_str() {
            Some("-" | "/dev/stdin" | "/dev/stdout") => Self::Std,
            _ => Self::Path(p.to_path_buf()),
        }
    }

    /// How it is named in messages.
    pub fn display(&self) -> String {
        match self {
            Self::Std => "-".into(),
            Self::Path(p) => p.display().to_string(),
        }
    }
}

/// One input and its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub input: Endpoint,
    pub output: Endpoint,
    /// The output's folder is to be created (named with a trailing `/`, or the folder of several).
    pub create_parent: bool,
}

/// A file of a directory input that is not enhanced, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: &'static str,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// One input to one output (either may be a standard stream).
    One(Job),
    /// Several files into a folder (a directory input, or several input files).
    Many {
        jobs: Vec<Job>,
        out_dir: PathBuf,
        skipped: Vec<Skipped>,
    },
}

/// Reads `paths` (inputs, then the output) as the user meant them; `overwrite` allows replacing
/// existing output files. Creates nothing.
pub fn plan(paths: &[PathBuf], overwrite: bool) -> Result<Plan> {
    let Some((output, inputs)) = paths.split_last().filter(|(_, i)| !i.is_empty()) else {
        bail!("give an input and an output (`dfn4 enhance IN.wav OUT.wav`)");
    };
    let output = Endpoint::parse(output);
    let inputs: Vec<Endpoint> = inputs.iter().map(|p| Endpoint::parse(p)).collect();
    if let [input] = inputs.as_slice() {
        return plan_one(input, &output, overwrite);
    }
    let Endpoint::Path(out_dir) = output else {
        bail!("several inputs need an output folder as the last argument, not `-`");
    };
    if out_dir.exists() && !out_dir.is_dir() {
        bail!(
            "several inputs need an output folder as the last argument; {} is a file",
            out_dir.display()
        );
    }
    let mut files = Vec::new();
    for input in inputs {
        match input {
            Endpoint::Std => bail!("`-` (stdin) can only be the one input"),
            Endpoint::Path(p) if p.is_dir() => bail!(
                "{} is a directory; give a directory as the only input to enhance its .wav files",
                p.display()
            ),
            Endpoint::Path(p) => files.push(p),
        }
    }
    plan_many(files, &out_dir, Vec::new(), overwrite)
}

fn plan_one(input: &Endpoint, output: &Endpoint, overwrite: bool) -> Result<Plan> {
    let Endpoint::Path(in_path) = input else {
        if let Endpoint::Path(p) = output {
            if p.is_dir() || ends_with_separator(p) {
                bail!(
                    "stdin has no file name to give an output in {}; name the output file",
                    p.display()
                );
            }
            check_output_file(None, p, overwrite)?;
        }
        return Ok(Plan::One(Job {
            input: Endpoint::Std,
            output: output.clone(),
            create_parent: false,
        }));
    };
    let meta = fs::metadata(in_path)
        .with_context(|| format!("cannot read input {}", in_path.display()))?;
    if meta.is_dir() {
        let Endpoint::Path(out_dir) = output else {
            bail!("a directory input needs an output folder, not `-`");
        };
        if out_dir.exists() && !out_dir.is_dir() {
            bail!(
                "the input {} is a directory, so the output {} must be one too",
                in_path.display(),
                out_dir.display()
            );
        }
        if same_path(in_path, out_dir) {
            bail!(
                "the output directory {} is the input directory; refusing to overwrite the inputs",
                out_dir.display()
            );
        }
        let (files, skipped) = list_dir(in_path)?;
        if files.is_empty() {
            bail!(
                "no audio files dfn4 reads in {}{}",
                in_path.display(),
                skipped_summary(&skipped)
            );
        }
        return plan_many(files, out_dir, skipped, overwrite);
    }
    let (output, create_parent) = match output {
        Endpoint::Std => (Endpoint::Std, false),
        Endpoint::Path(p) if p.is_dir() || ends_with_separator(p) => {
            (Endpoint::Path(p.join(output_name(in_path)?)), !p.is_dir())
        }
        Endpoint::Path(p) => (Endpoint::Path(p.clone()), false),
    };
    if let Endpoint::Path(out) = &output {
        check_output_file(Some(in_path), out, overwrite)?;
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !create_parent && !dir.is_dir() {
            bail!(
                "cannot write output {}: directory {} does not exist (end a folder name with / to \
                 have it created)",
                out.display(),
                dir.display()
            );
        }
    }
    Ok(Plan::One(Job {
        input: input.clone(),
        output,
        create_parent,
    }))
}

fn plan_many(
    files: Vec<PathBuf>,
    out_dir: &Path,
    skipped: Vec<Skipped>,
    overwrite: bool,
) -> Result<Plan> {
    let mut jobs = Vec::with_capacity(files.len());
    let mut existing = Vec::new();
    for input in files {
        let name = output_name(&input)?;
        let output = out_dir.join(&name);
        if jobs
            .iter()
            .any(|j: &Job| j.output == Endpoint::Path(output.clone()))
        {
            bail!(
                "two inputs would both be written to {}: their outputs would collide",
                output.display()
            );
        }
        if same_path(&input, &output) {
            bail!(
                "the output {} is the input file; refusing to overwrite it",
                output.display()
            );
        }
        if !overwrite && output.symlink_metadata().is_ok() {
            existing.push(output.display().to_string());
        }
        jobs.push(Job {
            input: Endpoint::Path(input),
            output: Endpoint::Path(output),
            create_parent: true,
        });
    }
    if !existing.is_empty() {
        let shown: Vec<_> = existing.iter().take(3).cloned().collect();
        let more = existing.len() - shown.len();
        bail!(
            "{} output file{} exist{} already ({}{}); pass --overwrite (-y) to replace them",
            existing.len(),
            if existing.len() == 1 { "" } else { "s" },
            if existing.len() == 1 { "s" } else { "" },
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    Ok(Plan::Many {
        jobs,
        out_dir: out_dir.to_path_buf(),
        skipped,
    })
}

/// Checks an output file path: not the input, a name the tool honours, not an existing file unless
/// `overwrite`. Devices, pipes and FIFOs are written in place and pass.
fn check_output_file(input: Option<&Path>, out: &Path, overwrite: bool) -> Result<()> {
    if let Some(input) = input {
        if same_path(input, out) {
            bail!(
                "the output {} is the input file; refusing to overwrite it",
                out.display()
            );
        }
    }
    match fs::metadata(out) {
        Ok(meta) if meta.is_file() => {
            check_extension(out)?;
            if !overwrite {
                bail!(
                    "the output {} exists; pass --overwrite (-y) to replace it{}",
                    out.display(),
                    if input.is_some() {
                        " (arguments are IN OUT: is the order right?)"
                    } else {
                        ""
                    }
                );
            }
        }
        Ok(_) => {}
        Err(_) => {
            check_extension(out)?;
            if out.symlink_metadata().is_ok() && !overwrite {
                bail!(
                    "the output {} is a broken symlink; pass --overwrite (-y) to replace it",
                    out.display()
                );
            }
        }
    }
    Ok(())
}

/// The name of an input's output in a folder: the same name for a WAV file, the extension replaced by
/// `.wav` for a compressed one (`talk.mp3` → `talk.wav`).
fn output_name(input: &Path) -> Result<std::ffi::OsString> {
    let name = input
        .file_name()
        .with_context(|| format!("{} has no file name", input.display()))?;
    let is_wav = input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
    Ok(if is_wav || input.extension().is_none() {
        name.to_os_string()
    } else {
        input
            .with_extension("wav")
            .file_name()
            .unwrap_or(name)
            .to_os_string()
    })
}

/// dfn4 writes WAV, and FLAC for a `.flac` name (feature `formats`): an output named with another
/// extension would be a WAV file under a misleading name, so it is refused. No extension at all is
/// accepted (WAV).
fn check_extension(out: &Path) -> Result<()> {
    let flac_ok = cfg!(feature = "formats");
    match out.extension().and_then(|e| e.to_str()) {
        None => Ok(()),
        Some(e) if e.eq_ignore_ascii_case("wav") => Ok(()),
        Some(e) if flac_ok && e.eq_ignore_ascii_case("flac") => Ok(()),
        Some(e) => bail!(
            "dfn4 writes WAV{} files only; the output {} has the extension .{e} (name it .wav, or \
             write `-` and pipe it into an encoder)",
            if flac_ok { " and FLAC" } else { "" },
            out.display()
        ),
    }
}

fn ends_with_separator(p: &Path) -> bool {
    p.as_os_str()
        .to_str()
        .is_some_and(|s| s.ends_with(std::path::MAIN_SEPARATOR))
}

/// The audio files dfn4 reads (WAV, and the compressed formats of the `formats` feature; any case of
/// the extension) directly inside `dir`, sorted by name, and what else is there, with the reason it is
/// left alone.
fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let why = if path.is_dir() {
            Some("a folder (folders inside are not entered)")
        } else if !path.is_file() {
            Some("not a regular file")
        } else if !is_readable_extension(&path) {
            Some(UNREADABLE)
        } else {
            None
        };
        match why {
            None => files.push(path),
            Some(why) => skipped.push(Skipped { path, why }),
        }
    }
    files.sort();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, skipped))
}

fn skipped_summary(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(" ({} other entries skipped)", skipped.len())
    }
}

/// `path` made absolute with symlinks resolved; for a file that does not exist yet, its directory is
/// resolved instead and the name appended.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = fs::canonicalize(path) {
        return Some(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(fs::canonicalize(parent).ok()?.join(path.file_name()?))
}

fn same_path(a: &Path, b: &Path) -> bool {
    matches!((resolved(a), resolved(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn reads_the_arguments_as_meant() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a = d.join("a.wav");
        fs::write(&a, b"x").unwrap();
        let one = |paths: &[PathBuf], overwrite| plan(paths, overwrite);
        assert_eq!(
            one(&[p("-"), p("-")], false).unwrap(),
            Plan::One(Job {
                input: Endpoint::Std,
                output: Endpoint::Std,
                create_parent: false,
            })
        );
        // An output folder that does not exist yet, named with a trailing slash, receives a.wav.
        let new_dir = format!("{}/new/", d.display());
        match one(&[a.clone(), p(&new_dir)], false).unwrap() {
            Plan::One(job) => {
                assert_eq!(job.output, Endpoint::Path(d.join("new/a.wav")));
                assert!(job.create_parent);
            }
            other => panic!("{other:?}"),
        }
        // Existing output: refused without --overwrite, with a hint about the order.
        let b = d.join("b.wav");
        fs::write(&b, b"y").unwrap();
        let err = one(&[b.clone(), a.clone()], false).unwrap_err().to_string();
        assert!(
            err.contains("exists; pass --overwrite") && err.contains("order"),
            "{err}"
        );
        assert!(one(&[b.clone(), a.clone()], true).is_ok());
        // In == out is refused even with --overwrite.
        assert!(one(&[a.clone(), a.clone()], true).is_err());
        // Names the tool would not honour.
        let err = one(&[a.clone(), d.join("x.mp3")], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(".mp3"), "{err}");
        assert!(one(&[a.clone(), d.join("x")], false).is_ok());
        // Devices are written in place.
        assert!(one(&[a.clone(), p("/dev/null")], false).is_ok());
    }

    #[test]
    fn several_inputs_go_into_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for n in ["a.wav", "b.wav"] {
            fs::write(d.join(n), b"x").unwrap();
        }
        let out = d.join("out");
        match plan(&[d.join("a.wav"), d.join("b.wav"), out.clone()], false).unwrap() {
            Plan::Many { jobs, out_dir, .. } => {
                assert_eq!(out_dir, out);
                assert_eq!(jobs[1].output, Endpoint::Path(out.join("b.wav")));
            }
            other => panic!("{other:?}"),
        }
        fs::create_dir(&out).unwrap();
        fs::write(out.join("b.wav"), b"x").unwrap();
        let err = plan(&[d.join("a.wav"), d.join("b.wav"), out.clone()], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 output file exists already"), "{err}");
        assert!(plan(&[d.join("a.wav"), d.join("b.wav"), p("-")], false).is_err());
        assert!(plan(&[d.join("a.wav"), d.join("a.wav"), out], true).is_err());
    }

    #[test]
    fn a_directory_lists_what_it_skips() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("in");
        fs::create_dir_all(d.join("sub")).unwrap();
        for n in ["a.wav", "B.WAV", "c.mp3", "notes.txt", "d.FLAC"] {
            fs::write(d.join(n), b"x").unwrap();
        }
        match plan(&[d.clone(), dir.path().join("out")], false).unwrap() {
            Plan::Many { jobs, skipped, .. } => {
                let names: Vec<_> = skipped
                    .iter()
                    .map(|s| s.path.file_name().unwrap().to_str().unwrap())
                    .collect();
                let outputs: Vec<_> = jobs.iter().map(|j| j.output.display()).collect();
                if cfg!(feature = "formats") {
                    assert_eq!(names, ["notes.txt", "sub"]);
                    // Compressed inputs get a .wav name.
                    assert!(
                        outputs.iter().any(|o| o.ends_with("out/c.wav")),
                        "{outputs:?}"
                    );
                    assert!(
                        outputs.iter().any(|o| o.ends_with("out/d.wav")),
                        "{outputs:?}"
                    );
                } else {
                    assert_eq!(names, ["c.mp3", "d.FLAC", "notes.txt", "sub"]);
                }
                assert!(
                    outputs.iter().any(|o| o.ends_with("out/B.WAV")),
                    "{outputs:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
