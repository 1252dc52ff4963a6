//! Reader for dlib's portable serialization format (dlib/serialize.h, dlib/float_details.h), the
//! encoding of `shape_predictor_68_face_landmarks.dat` and dlib's other model files.
//!
//! The encoding, as this reader understands it:
//! - an integer is a control byte (low nibble: number of magnitude bytes, 1 to `sizeof(T)`;
//!   bit 7: negative) followed by the magnitude, little-endian;
//! - a floating-point number is an integer mantissa (int64) and an integer exponent (int16), value
//!   `mantissa · 2^exponent`, with exponents 32000, 32001 and 32002 and above standing for +∞, −∞
//!   and NaN;
//! - `std::vector<T>` is its length (unsigned) followed by the elements;
//! - `matrix<T>` is its row and column counts (written negated by dlib since 2013, which is how it
//!   tells the new layout from the old; both signs are accepted) followed by the elements row by
//!   row.
//!
//! Every read names what it was reading, so that a bad file is reported as "truncated at byte N
//! while reading stage 3 tree 12 leaf values" rather than as a bare failure. Lengths are checked
//! against the bytes that remain before anything is allocated for them, so a corrupt length field
//! cannot ask for gigabytes.

use std::fmt::Display;

use thiserror::Error;

/// Why a dlib model file could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DlibModelError {
    #[error("truncated at byte {offset} while reading {context}")]
    Truncated { offset: usize, context: String },
    #[error("corrupt at byte {offset} while reading {context}: {reason}")]
    Corrupt {
        offset: usize,
        context: String,
        reason: String,
    },
    #[error(
        "truncated or corrupt at byte {offset} while reading {context}: {what} needs at least {needed} bytes, {remaining} remain"
    )]
    BeyondEnd {
        offset: usize,
        context: String,
        what: String,
        needed: u128,
        remaining: usize,
    },
    #[error("not a dlib shape predictor: {reason}")]
    WrongType { reason: String },
    #[error("inconsistent model: {reason}")]
    Inconsistent { reason: String },
    #[error("unsupported model layout: {reason}")]
    Unsupported { reason: String },
}

/// Special exponents of dlib's float encoding.
const EXP_INF: i64 = 32000;
const EXP_NEG_INF: i64 = 32001;
const EXP_NAN: i64 = 32002;

/// A cursor over the bytes of a serialized dlib object.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[cold]
    pub(crate) fn truncated(&self, at: impl Display) -> DlibModelError {
        DlibModelError::Truncated {
            offset: self.pos,
            context: at.to_string(),
        }
    }

    #[cold]
    pub(crate) fn corrupt(
        &self,
        offset: usize,
        at: impl Display,
        reason: impl Display,
    ) -> DlibModelError {
        DlibModelError::Corrupt {
            offset,
            context: at.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Reads an integer as (negative, magnitude), checking the byte count against `max_bytes`
    /// (the `sizeof` of the C++ type it was written from).
    #[inline]
    fn raw_int(
        &mut self,
        max_bytes: u8,
        at: impl Display + Copy,
    ) -> Result<(bool, u64), DlibModelError> {
        let start = self.pos;
        let Some(&control) = self.bytes.get(start) else {
            return Err(self.truncated(at));
        };
        let size = control & 0x0F;
        // dlib itself refuses a zero byte count (zero is written as one byte 0x00) and never sets
        // bits 4–6; either is a sign of a damaged or foreign file.
        if size == 0 || size > max_bytes || control & 0x70 != 0 {
            return Err(self.bad_header(control, max_bytes, at));
        }
        let end = start + 1 + size as usize;
        // Fast path, nearly every number of a model file: load eight bytes at once and keep the
        // `size` low ones.
        let value = if let Some(word) = self.bytes.get(start + 1..start + 9) {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(word);
            let word = u64::from_le_bytes(eight);
            if size == 8 {
                word
            } else {
                word & ((1u64 << (8 * size)) - 1)
            }
        } else {
            let Some(magnitude) = self.bytes.get(start + 1..end) else {
                return Err(self.truncated(at));
            };
            magnitude
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        };
        self.pos = end;
        Ok((control & 0x80 != 0, value))
    }

    #[cold]
    fn bad_header(&self, control: u8, max_bytes: u8, at: impl Display) -> DlibModelError {
        self.corrupt(
            self.pos,
            at,
            format_args!("bad integer header 0x{control:02x} (expected at most {max_bytes} bytes)"),
        )
    }

    /// An unsigned integer written from a type of at most `max_bytes` bytes.
    #[inline]
    pub(crate) fn unsigned(
        &mut self,
        max_bytes: u8,
        at: impl Display + Copy,
    ) -> Result<u64, DlibModelError> {
        let start = self.pos;
        match self.raw_int(max_bytes, at)? {
            (false, v) => Ok(v),
            (true, _) => Err(self.corrupt(start, at, "negative value for an unsigned field")),
        }
    }

    /// A signed integer written from a type of `max_bytes` bytes, checked to fit that type.
    #[inline]
    pub(crate) fn signed(
        &mut self,
        max_bytes: u8,
        at: impl Display + Copy,
    ) -> Result<i64, DlibModelError> {
        let start = self.pos;
        let (negative, magnitude) = self.raw_int(max_bytes, at)?;
        let bits = 8 * u32::from(max_bytes);
        // The most negative value of a `bits`-wide type has magnitude 2^(bits−1).
        let limit = 1u64 << (bits - 1);
        if magnitude > limit || (!negative && magnitude == limit) {
            return Err(self.corrupt(
                start,
                at,
                format_args!("integer out of range for {bits} bits"),
            ));
        }
        // Magnitude ≤ 2^63 here, so the negation of 2^63 wraps to i64::MIN as intended.
        let value = magnitude as i64;
        Ok(if negative {
            value.wrapping_neg()
        } else {
            value
        })
    }

    /// A C `int` (dlib writes the object version this way).
    pub(crate) fn int32(&mut self, at: impl Display + Copy) -> Result<i64, DlibModelError> {
        self.signed(4, at)
    }

    /// A `float` as dlib stores it, converted the way dlib's `float_details` converts to `float`:
    /// the mantissa is first rounded to `float`, then scaled by the power of two.
    #[inline]
    pub(crate) fn float(&mut self, at: impl Display + Copy) -> Result<f32, DlibModelError> {
        let mantissa = self.signed(8, at)?;
        let exponent = self.signed(2, at)?;
        Ok(match exponent {
            EXP_INF => f32::INFINITY,
            EXP_NEG_INF => f32::NEG_INFINITY,
            e if e >= EXP_NAN => f32::NAN,
            e => ldexp_f32(mantissa as f32, e),
        })
    }

    /// A `float` that must be finite: dlib's trainers never write anything else into a model.
    #[inline]
    pub(crate) fn finite_float(&mut self, at: impl Display + Copy) -> Result<f32, DlibModelError> {
        let start = self.pos;
        let v = self.float(at)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.corrupt(start, at, format_args!("non-finite value {v}")))
        }
    }

    /// The length of a `std::vector` whose elements take at least `min_element_bytes` each, checked
    /// against what is left of the input so that no corrupt length leads to a huge allocation.
    pub(crate) fn vector_len(
        &mut self,
        min_element_bytes: usize,
        at: impl Display + Copy,
    ) -> Result<usize, DlibModelError> {
        let start = self.pos;
        let n = self.unsigned(8, at)?;
        self.check_fits(start, u128::from(n), min_element_bytes, at, || {
            format!("length {n}")
        })?;
        Ok(n as usize)
    }

    /// The dimensions of a `matrix`, as (rows, columns), checked the same way as vector lengths.
    pub(crate) fn matrix_dims(
        &mut self,
        min_element_bytes: usize,
        at: impl Display + Copy,
    ) -> Result<(usize, usize), DlibModelError> {
        let start = self.pos;
        let nr = self.signed(8, at)?.unsigned_abs();
        let nc = self.signed(8, at)?.unsigned_abs();
        // Each dimension on its own too: a matrix with 0 columns would let any row count through.
        let n = u128::from(nr)
            .saturating_mul(u128::from(nc))
            .max(u128::from(nr.max(nc)));
        self.check_fits(start, n, min_element_bytes, at, || {
            format!("a {nr}×{nc} matrix")
        })?;
        Ok((nr as usize, nc as usize))
    }

    /// Whether `n` elements of at least `min_element_bytes` each can still follow.
    fn check_fits(
        &self,
        start: usize,
        n: u128,
        min_element_bytes: usize,
        at: impl Display,
        what: impl FnOnce() -> String,
    ) -> Result<(), DlibModelError> {
        // Saturating: a matrix's rows × columns can reach 2^126 already.
        let needed = n.saturating_mul(min_element_bytes as u128);
        if needed <= self.remaining() as u128 {
            return Ok(());
        }
        Err(DlibModelError::BeyondEnd {
            offset: start,
            context: at.to_string(),
            what: what(),
            needed,
            remaining: self.remaining(),
        })
    }
}

/// Smallest encoding of an integer: control byte and one magnitude byte.
pub(crate) const MIN_INT_BYTES: usize = 2;
/// Smallest encoding of a float: two integers.
pub(crate) const MIN_FLOAT_BYTES: usize = 2 * MIN_INT_BYTES;

/// `ldexpf`: `m · 2^e` rounded once to `f32`. The product is formed exactly in `f64` (|m| < 2^64
/// and the clamped exponent keep it far from `f64`'s limits), so the single rounding of the cast
/// gives the correctly rounded result that `ldexpf` returns, subnormals included.
fn ldexp_f32(m: f32, e: i64) -> f32 {
    if m == 0.0 {
        return m;
    }
    if e > 300 {
        return m.signum() * f32::INFINITY;
    }
    if e < -400 {
        return m.signum() * 0.0;
    }
    // 2^e built from its bits: e + 1023 is a valid biased exponent for e in [−400, 300].
    let scale = f64::from_bits(((e + 1023) as u64) << 52);
    (f64::from(m) * scale) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_decode_sign_and_magnitude() {
        // 1; 0; −136; 300 (0x012C, two bytes little-endian).
        let bytes = [0x01, 0x01, 0x01, 0x00, 0x81, 0x88, 0x02, 0x2C, 0x01];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.int32("a").unwrap(), 1);
        assert_eq!(r.int32("b").unwrap(), 0);
        assert_eq!(r.int32("c").unwrap(), -136);
        assert_eq!(r.unsigned(8, "d").unwrap(), 300);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn floats_decode_mantissa_and_exponent() {
        // 0xF1384D · 2^−29, the first value of the 68-point model's mean shape.
        let bytes = [0x03, 0x4D, 0x38, 0xF1, 0x81, 0x1D];
        let v = Reader::new(&bytes).float("x").unwrap();
        assert_eq!(v, (0xF1384D as f64 / (1u64 << 29) as f64) as f32);
        // −3 · 2^0, +∞, NaN.
        let bytes = [
            0x81, 0x03, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x7D, 0x01, 0x00, 0x02, 0x02, 0x7D,
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.float("a").unwrap(), -3.0);
        assert_eq!(r.float("b").unwrap(), f32::INFINITY);
        assert!(r.float("c").unwrap().is_nan());
    }

    #[test]
    fn ldexp_rounds_once_like_ldexpf() {
        assert_eq!(ldexp_f32(1.0, -149), f32::from_bits(1));
        assert_eq!(ldexp_f32(3.0, -150), f32::from_bits(2));
        assert_eq!(ldexp_f32(1.0, 127), 2f32.powi(127));
        assert_eq!(ldexp_f32(1.0, 128), f32::INFINITY);
        assert_eq!(ldexp_f32(-1.0, -1000), -0.0);
    }

    #[test]
    fn bad_headers_and_short_input_are_errors() {
        let at = "field";
        assert!(matches!(
            Reader::new(&[]).int32(at),
            Err(DlibModelError::Truncated { offset: 0, .. })
        ));
        assert!(matches!(
            Reader::new(&[0x02, 0x01]).int32(at),
            Err(DlibModelError::Truncated { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x00]).int32(at),
            Err(DlibModelError::Corrupt { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x05, 1, 2, 3, 4, 5]).int32(at),
            Err(DlibModelError::Corrupt { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x81, 0x01]).unsigned(8, at),
            Err(DlibModelError::Corrupt { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x02, 0x00, 0x80]).signed(2, at),
            Err(DlibModelError::Corrupt { .. })
        ));
        assert_eq!(
            Reader::new(&[0x82, 0x00, 0x80]).signed(2, at).unwrap(),
            -32768
        );
        let err = Reader::new(&[0x04, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0])
            .vector_len(2, at)
            .unwrap_err();
        assert!(matches!(err, DlibModelError::BeyondEnd { .. }), "{err}");
        let huge = [
            0x88, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x88, 0, 0, 0, 0, 0, 0, 0, 0x80,
        ];
        let err = Reader::new(&huge).matrix_dims(4, at).unwrap_err();
        assert!(matches!(err, DlibModelError::BeyondEnd { .. }), "{err}");
    }
}
