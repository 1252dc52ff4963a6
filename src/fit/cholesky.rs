//! Cholesky factorisation and solve of the small symmetric positive-definite systems of the
//! Gauss-Newton steps (PCLM, Eq. 9; the joint refinement), in place and without allocating.

/// Solves `A x = b` for a symmetric positive definite `A` (row-major `n × n`, overwritten by its
/// Cholesky factor) in place of `b`, without allocating. False if `A` is not positive definite.
pub fn cholesky_solve(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    if !cholesky_factor(a, n) {
        return false;
    }
    cholesky_substitute(a, b, n);
    true
}

/// Overwrites the lower triangle of the symmetric positive definite `A` (row-major `n × n`) with
/// its Cholesky factor `L`, for several solves with [`cholesky_substitute`]. False if `A` is not
/// positive definite.
pub fn cholesky_factor(a: &mut [f64], n: usize) -> bool {
    // Column by column: the entries below the diagonal are independent dot products, so they
    // overlap in the pipeline instead of waiting on one another.
    for j in 0..n {
        let d = a[j * n + j] - dot(&a[j * n..j * n + j], &a[j * n..j * n + j]);
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        let inv = 1.0 / d;
        let (upper, lower) = a.split_at_mut((j + 1) * n);
        let row_j = &upper[j * n..j * n + j];
        for row_i in lower.chunks_exact_mut(n) {
            row_i[j] = (row_i[j] - dot(&row_i[..j], row_j)) * inv;
        }
    }
    true
}

/// Solves `L Lᵀ x = b` in place of `b`, `l` the factor [`cholesky_factor`] left.
pub fn cholesky_substitute(l: &[f64], b: &mut [f64], n: usize) {
    for i in 0..n {
        let row = &l[i * n..i * n + i + 1];
        b[i] = (b[i] - dot(&row[..i], &b[..i])) / row[i];
    }
    for i in (0..n).rev() {
        let mut v = b[i];
        for k in i + 1..n {
            v -= l[k * n + i] * b[k];
        }
        b[i] = v / l[i * n + i];
    }
}

/// Four running sums, so the additions do not wait on one another.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail = n - n % 4;
    let rest: f64 = a[tail..].iter().zip(&b[tail..]).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        let mut a = vec![4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let orig = a.clone();
        let x = [1.0, -2.0, 0.5];
        let mut b: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|k| orig[i * 3 + k] * x[k]).sum())
            .collect();
        assert!(cholesky_solve(&mut a, &mut b, 3));
        for i in 0..3 {
            assert!((b[i] - x[i]).abs() < 1e-12);
        }
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert!(!cholesky_solve(&mut singular, &mut [1.0, 1.0], 2));
    }
}
