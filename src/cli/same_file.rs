//! Whether an output path would overwrite an input: the same file under another name (a
//! relative path, a symlink, a hard link), or an existing file inside an input folder.

use std::path::Path;

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
