//! Where model files are found (DESIGN.md, "Models and their search order"): a file named on the
//! command line, then `$FACETRACK_MODELS`, then `models/` beside the executable and in the working
//! tree, then system locations.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// dlib's 68-point shape predictor, as installed by Debian's `libdlib-data`.
pub const DLIB_SHAPE_PREDICTOR: &str = "shape_predictor_68_face_landmarks.dat";
pub const DLIB_SYSTEM_DIR: &str = "/usr/share/dlib";
pub const DLIB_HINT: &str = "install it with `apt-get install libdlib-data`, or name the file with --landmarks or $FACETRACK_MODELS";

#[derive(Debug, Error)]
#[error("model file {name} not found (looked in {}); {hint}", list(.searched))]
pub struct NotFound {
    pub name: String,
    pub searched: Vec<PathBuf>,
    pub hint: String,
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds a model file by name. An explicit path is taken as it is (and must exist); otherwise the
/// search order above is walked and the first existing file wins.
pub fn find_model(
    explicit: Option<&Path>,
    name: &str,
    system_dirs: &[&str],
    hint: &str,
) -> Result<PathBuf, NotFound> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_owned()],
        None => search_dirs(system_dirs)
            .into_iter()
            .map(|d| d.join(name))
            .collect(),
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| NotFound {
            name: explicit.map_or_else(|| name.to_owned(), |p| p.display().to_string()),
            searched: candidates,
            hint: hint.to_owned(),
        })
}

fn search_dirs(system_dirs: &[&str]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("FACETRACK_MODELS") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        dirs.push(exe_dir.join("models"));
    }
    dirs.push(PathBuf::from("models"));
    // A binary run from its build tree (`cargo run`, the tests) finds the committed models too.
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    dirs.extend(system_dirs.iter().map(PathBuf::from));
    dirs.dedup();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_path_is_named_with_the_hint() {
        let err = find_model(Some(Path::new("/nope/x.dat")), "x.dat", &[], "get it").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/nope/x.dat") && msg.contains("get it"),
            "{msg}"
        );
    }

    #[test]
    fn search_lists_every_place_it_looked() {
        let err = find_model(None, "no-such-model.bin", &["/opt/nowhere"], "h").unwrap_err();
        assert!(err.searched.iter().any(|p| p.starts_with("/opt/nowhere")));
        assert!(
            err.searched
                .iter()
                .any(|p| p.ends_with("models/no-such-model.bin"))
        );
    }
}
