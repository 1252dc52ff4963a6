//! Finds the face-detection model that ships inside the `rustface` crate package, so the binary
//! can embed it: nothing is downloaded, and the user has no extra file to install.

use std::path::{Path, PathBuf};
use std::process::Command;

const SEETA_MODEL: &str = "model/seeta_fd_frontal_v1.0.bin";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let path = rustface_dir()
        .map(|d| d.join(SEETA_MODEL))
        .filter(|p| p.is_file())
        .or_else(registry_copy)
        .unwrap_or_else(|| {
            panic!("cannot find {SEETA_MODEL} in the rustface package; run `cargo fetch`")
        });
    println!("cargo:rustc-env=FACETRACK_SEETA_MODEL={}", path.display());
}

fn rustface_dir() -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this target's packages: those are the ones cargo has already fetched for the build.
    let target = std::env::var("TARGET").ok()?;
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &target,
        ])
        .current_dir(std::env::var("CARGO_MANIFEST_DIR").ok()?)
        .output()
        .ok()?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    meta["packages"].as_array()?.iter().find_map(|p| {
        (p["name"] == "rustface")
            .then(|| {
                PathBuf::from(p["manifest_path"].as_str()?)
                    .parent()
                    .map(PathBuf::from)
            })
            .flatten()
    })
}

/// `cargo metadata` fails offline when some package of the lock file (a dev-dependency, say) has
/// not been fetched yet; the registry's unpacked sources hold the one the build uses.
fn registry_copy() -> Option<PathBuf> {
    let lock = std::fs::read_to_string(
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").ok()?).join("Cargo.lock"),
    )
    .ok()?;
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"rustface\""))?
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))?
        .trim_end_matches('"')
        .to_owned();
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    std::fs::read_dir(home.join("registry/src"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .join(format!("rustface-{version}"))
                .join(SEETA_MODEL)
        })
        .find(|p| p.is_file())
}
