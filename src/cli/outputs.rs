//! Where a command's outputs go: never over one of its inputs — the same file under another
//! name (a relative path, a symlink, a hard link), or an existing file inside an input folder —
//! and, for a file made whole at the end, beside its name until it is complete.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Refuses `output` when writing it would overwrite one of `inputs`.
pub fn refuse_input_as_output<P: AsRef<Path>>(
    output: &Path,
    inputs: impl IntoIterator<Item = P>,
) -> Result<()> {
    for input in inputs {
        let input = input.as_ref();
        if is_same_or_inside(output, input) {
            bail!(
                "{} is an input of this run ({}); choose another path for the output",
                output.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// `out` with `.partial` added: where a file is written until it is whole, then renamed.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    out.with_file_name(name)
}

/// Whether writing `output` would overwrite `input` or, when `input` is a folder, an existing
/// file in it.
pub fn is_same_or_inside(output: &Path, input: &Path) -> bool {
    let (Ok(out_meta), Ok(in_meta)) = (std::fs::metadata(output), std::fs::metadata(input)) else {
        // A path that does not exist yet overwrites nothing.
        return false;
    };
    if same_inode(&out_meta, &in_meta) {
        return true;
    }
    if in_meta.is_dir()
        && let (Ok(o), Ok(i)) = (std::fs::canonicalize(output), std::fs::canonicalize(input))
    {
        return o.starts_with(i);
    }
    false
}

#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_one_file_and_files_inside_a_folder_are_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.jpg");
        std::fs::write(&input, b"x").unwrap();
        let other = dir.path().join("b.csv");
        assert!(is_same_or_inside(&input, &input));
        assert!(is_same_or_inside(
            &dir.path().join(".").join("a.jpg"),
            &input
        ));
        let link = dir.path().join("link.jpg");
        std::fs::hard_link(&input, &link).unwrap();
        assert!(is_same_or_inside(&link, &input));
        assert!(is_same_or_inside(&input, dir.path()));
        // New files overwrite nothing, in the folder or beside it.
        assert!(!is_same_or_inside(&other, &input));
        assert!(!is_same_or_inside(&other, dir.path()));
    }
}
