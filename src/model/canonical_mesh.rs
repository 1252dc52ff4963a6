//! The open canonical face mesh the dense model is built on (MediaPipe's canonical face geometry,
//! 468 vertices, Apache-2.0) and the mesh vertex of each iBUG-68 landmark. Parsed from text; the
//! caller reads the files.

use nalgebra::Vector3;
use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum MeshError {
    #[error("line {line}: {reason}")]
    Obj { line: usize, reason: String },
    #[error("the mesh has no {0}")]
    Empty(&'static str),
    #[error("vertex {vertex} has no texture coordinate")]
    MissingUv { vertex: usize },
    #[error("landmark vertex list: {0}")]
    Correspondences(String),
}

/// A triangle mesh with one texture coordinate per vertex.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalMesh {
    /// Positions as the file gives them (centimetres, y up, z towards the viewer).
    pub vertices: Vec<Vector3<f64>>,
    /// `vt` of each vertex: `u` right, `v` down, in [0, 1].
    pub uv: Vec<[f32; 2]>,
    /// Zero-based vertex indices, counter-clockwise seen from the front.
    pub triangles: Vec<[u32; 3]>,
}

/// Parses the `v`, `vt` and `f` records of a Wavefront OBJ file (other records are ignored).
/// Faces must be triangles and refer to vertices defined above them (negative indices count back
/// from there, as OBJ has it); a vertex takes the texture coordinate its faces give it, and faces that
/// disagree about it are an error (the model stores one per vertex).
pub fn parse_obj(text: &str) -> Result<CanonicalMesh, MeshError> {
    let mut vertices = Vec::new();
    let mut texcoords: Vec<[f32; 2]> = Vec::new();
    let mut faces: Vec<([usize; 3], [Option<usize>; 3], usize)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |reason: String| MeshError::Obj { line, reason };
        let mut fields = raw.split_whitespace();
        match fields.next() {
            Some("v") => {
                let xyz = numbers::<3>(&mut fields)
                    .ok_or_else(|| err(format!("expected `v x y z`, found `{raw}`")))?;
                vertices.push(Vector3::new(xyz[0], xyz[1], xyz[2]));
            }
            Some("vt") => {
                let uv = numbers::<2>(&mut fields)
                    .ok_or_else(|| err(format!("expected `vt u v`, found `{raw}`")))?;
                texcoords.push([uv[0] as f32, uv[1] as f32]);
            }
            Some("f") => {
                let corners: Vec<&str> = fields.collect();
                if corners.len() != 3 {
                    return Err(err(format!(
                        "only triangles are supported, found a face of {} corners",
                        corners.len()
                    )));
                }
                let mut v = [0usize; 3];
                let mut t = [None; 3];
                for (k, corner) in corners.iter().enumerate() {
                    let mut parts = corner.split('/');
                    v[k] = index(parts.next(), vertices.len())
                        .ok_or_else(|| err(format!("bad vertex index in `{corner}`")))?;
                    t[k] = match parts.next() {
                        None | Some("") => None,
                        s => Some(
                            index(s, texcoords.len())
                                .ok_or_else(|| err(format!("bad texture index in `{corner}`")))?,
                        ),
                    };
                }
                faces.push((v, t, line));
            }
            _ => {}
        }
    }
    if vertices.is_empty() {
        return Err(MeshError::Empty("vertices"));
    }
    if faces.is_empty() {
        return Err(MeshError::Empty("triangles"));
    }
    let mut uv: Vec<Option<[f32; 2]>> = vec![None; vertices.len()];
    let mut triangles = Vec::with_capacity(faces.len());
    for (v, t, line) in faces {
        for k in 0..3 {
            if let Some(ti) = t[k] {
                let tc = texcoords[ti];
                match uv[v[k]] {
                    Some(prev) if prev != tc => {
                        return Err(MeshError::Obj {
                            line,
                            reason: format!("vertex {} is given two texture coordinates", v[k] + 1),
                        });
                    }
                    _ => uv[v[k]] = Some(tc),
                }
            }
        }
        triangles.push(v.map(|i| i as u32));
    }
    let uv = uv
        .into_iter()
        .enumerate()
        .map(|(vertex, t)| t.ok_or(MeshError::MissingUv { vertex }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CanonicalMesh {
        vertices,
        uv,
        triangles,
    })
}

fn numbers<const N: usize>(fields: &mut std::str::SplitWhitespace<'_>) -> Option<[f64; N]> {
    let mut out = [0.0; N];
    for v in &mut out {
        *v = fields
            .next()?
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())?;
    }
    Some(out)
}

/// A one-based OBJ index (negative: counted from the end) to a zero-based one below `count`.
fn index(field: Option<&str>, count: usize) -> Option<usize> {
    let i: i64 = field?.parse().ok()?;
    let zero_based = if i > 0 { i - 1 } else { count as i64 + i };
    usize::try_from(zero_based).ok().filter(|&z| z < count)
}

#[derive(Deserialize)]
struct Correspondences {
    canonical_vertex_of_ibug68: Vec<u32>,
}

/// Parses `{"canonical_vertex_of_ibug68": [...]}`: the mesh vertex of each landmark, which must be
/// `n_landmarks` distinct vertices of a mesh of `n_vertices`.
pub fn parse_landmark_vertices(
    json: &str,
    n_landmarks: usize,
    n_vertices: usize,
) -> Result<Vec<u32>, MeshError> {
    let c: Correspondences =
        serde_json::from_str(json).map_err(|e| MeshError::Correspondences(e.to_string()))?;
    let v = c.canonical_vertex_of_ibug68;
    if v.len() != n_landmarks {
        return Err(MeshError::Correspondences(format!(
            "{} entries, expected {n_landmarks}",
            v.len()
        )));
    }
    for (i, &x) in v.iter().enumerate() {
        if x as usize >= n_vertices {
            return Err(MeshError::Correspondences(format!(
                "landmark {i} names vertex {x}, the mesh has {n_vertices}"
            )));
        }
        if let Some(j) = v[..i].iter().position(|&y| y == x) {
            return Err(MeshError::Correspondences(format!(
                "landmarks {j} and {i} both name vertex {x}"
            )));
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUAD: &str = "# two triangles\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 1\nvt 1 1\nvt 1 0\nvt 0 0\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n";

    #[test]
    fn parses_vertices_uv_and_triangles() {
        let m = parse_obj(QUAD).unwrap();
        assert_eq!(m.vertices.len(), 4);
        assert_eq!(m.triangles, vec![[0, 1, 2], [0, 2, 3]]);
        assert_eq!(m.uv[3], [0.0, 0.0]);
    }

    #[test]
    fn rejects_bad_faces_with_their_line() {
        let e = parse_obj("v 0 0 0\nv 1 0 0\nv 1 1 0\nvt 0 0\nf 1/1 2/1 9/1\n").unwrap_err();
        assert!(matches!(e, MeshError::Obj { line: 5, .. }), "{e}");
        let e = parse_obj("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n").unwrap_err();
        assert!(matches!(e, MeshError::Obj { line: 5, .. }), "{e}");
        assert_eq!(
            parse_obj("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 3\n").unwrap_err(),
            MeshError::MissingUv { vertex: 0 }
        );
    }

    #[test]
    fn checks_correspondences() {
        assert_eq!(
            parse_landmark_vertices(r#"{"canonical_vertex_of_ibug68": [3, 1]}"#, 2, 4).unwrap(),
            vec![3, 1]
        );
        assert!(
            parse_landmark_vertices(r#"{"canonical_vertex_of_ibug68": [3, 3]}"#, 2, 4).is_err()
        );
        assert!(
            parse_landmark_vertices(r#"{"canonical_vertex_of_ibug68": [4, 1]}"#, 2, 4).is_err()
        );
        assert!(parse_landmark_vertices(r#"{"canonical_vertex_of_ibug68": [1]}"#, 2, 4).is_err());
        assert!(parse_landmark_vertices("[]", 2, 4).is_err());
    }
}
