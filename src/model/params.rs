//! The parameter vector of the PARM paper (§3.1), `p = [s, pitch, yaw, roll, tx, ty, α_id…, α_exp…]`,
//! and its conversion from the AFLW2000-3D ground truth.
//!
//! The coefficients are unit-variance ones: `α = dataset coefficient / σ` per dimension, with `σ`
//! stored in the model, so the shape prior is simply `‖α‖²`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::MorphableModel;

/// The pose of a fitted model as AFLW2000-3D gives it (angles in radians; `tx`, `ty`, `tz` in the
/// dataset's y-up image frame; `scale` from model units to pixels).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DatasetPose {
    pub pitch: f64,
    pub yaw: f64,
    pub roll: f64,
    pub tx: f64,
    pub ty: f64,
    pub tz: f64,
    pub scale: f64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamsError {
    #[error(
        "a parameter vector with {n_id} identity and {n_exp} expression coefficients has {expected} values, not {found}"
    )]
    Length {
        n_id: usize,
        n_exp: usize,
        expected: usize,
        found: usize,
    },
    #[error("{what}: {found} coefficients given, the model has {expected}")]
    Coefficients {
        what: &'static str,
        expected: usize,
        found: usize,
    },
}

/// `p = [s, pitch, yaw, roll, tx, ty, α_id (n_id), α_exp (n_exp)]`.
///
/// `n_id` and `n_exp` may be fewer than the model's: the missing trailing coefficients count as
/// zero, and Jacobians have one column per value held here (the PARM cascade fits fewer dimensions).
#[derive(Debug, PartialEq)]
pub struct Params {
    values: Vec<f64>,
    n_id: usize,
}

impl Clone for Params {
    fn clone(&self) -> Self {
        Self {
            values: self.values.clone(),
            n_id: self.n_id,
        }
    }

    /// Reuses the allocation: trackers copy parameters every frame.
    fn clone_from(&mut self, source: &Self) {
        self.values.clone_from(&source.values);
        self.n_id = source.n_id;
    }
}

impl Params {
    pub const S: usize = 0;
    pub const PITCH: usize = 1;
    pub const YAW: usize = 2;
    pub const ROLL: usize = 3;
    pub const TX: usize = 4;
    pub const TY: usize = 5;
    /// Number of pose values before the coefficients; also the index of `α_id[0]`.
    pub const N_POSE: usize = 6;

    /// All zero, scale included.
    pub fn zeros(n_id: usize, n_exp: usize) -> Self {
        Self {
            values: vec![0.0; Self::N_POSE + n_id + n_exp],
            n_id,
        }
    }

    /// All the model's dimensions, the mean face, no rotation, unit scale, origin.
    pub fn for_model(model: &MorphableModel) -> Self {
        let mut p = Self::zeros(model.n_id(), model.n_exp());
        p.values[Self::S] = 1.0;
        p
    }

    pub fn from_values(values: Vec<f64>, n_id: usize, n_exp: usize) -> Result<Self, ParamsError> {
        let expected = Self::N_POSE + n_id + n_exp;
        if values.len() != expected {
            return Err(ParamsError::Length {
                n_id,
                n_exp,
                expected,
                found: values.len(),
            });
        }
        Ok(Self { values, n_id })
    }

    /// From an AFLW2000-3D annotation: `tx` as is, `ty = (height + 1) − ty_dataset` (the dataset's y is
    /// up and 1-based), `s = scale`, `α = coefficient / σ`.
    pub fn from_dataset(
        pose: &DatasetPose,
        shape_para: &[f64],
        exp_para: &[f64],
        height: u32,
        model: &MorphableModel,
    ) -> Result<Self, ParamsError> {
        let (sigma_id, sigma_exp) = (model.sigma_id(), model.sigma_exp());
        for (what, given, sigma) in [
            ("identity (shape_para)", shape_para, sigma_id),
            ("expression (exp_para)", exp_para, sigma_exp),
        ] {
            if given.len() != sigma.len() {
                return Err(ParamsError::Coefficients {
                    what,
                    expected: sigma.len(),
                    found: given.len(),
                });
            }
        }
        let mut values = Vec::with_capacity(Self::N_POSE + shape_para.len() + exp_para.len());
        values.extend([
            pose.scale,
            pose.pitch,
            pose.yaw,
            pose.roll,
            pose.tx,
            f64::from(height) + 1.0 - pose.ty,
        ]);
        values.extend(
            shape_para
                .iter()
                .zip(sigma_id)
                .map(|(&a, &s)| a / f64::from(s)),
        );
        values.extend(
            exp_para
                .iter()
                .zip(sigma_exp)
                .map(|(&a, &s)| a / f64::from(s)),
        );
        Ok(Self {
            values,
            n_id: shape_para.len(),
        })
    }

    /// The dataset's `shape_para` for these identity coefficients (`σ · α`); dimensions this vector
    /// does not hold are zero.
    pub fn dataset_shape_para(&self, model: &MorphableModel) -> Vec<f64> {
        to_dataset(self.id(), model.sigma_id())
    }

    /// The dataset's `exp_para` for these expression coefficients (`σ · α`).
    pub fn dataset_exp_para(&self, model: &MorphableModel) -> Vec<f64> {
        to_dataset(self.exp(), model.sigma_exp())
    }

    /// The dataset's `ty` for an image of this height.
    pub fn dataset_ty(&self, height: u32) -> f64 {
        f64::from(height) + 1.0 - self.ty()
    }

    /// The same parameters with `n_id` identity and `n_exp` expression coefficients: dropped ones
    /// are lost, added ones are zero.
    pub fn with_dims(&self, n_id: usize, n_exp: usize) -> Self {
        let mut p = Self::zeros(n_id, n_exp);
        p.set_with_dims(self, n_id, n_exp);
        p
    }

    /// [`Self::with_dims`] into `self`, reusing its allocation.
    pub fn set_with_dims(&mut self, source: &Self, n_id: usize, n_exp: usize) {
        self.set_zeros(n_id, n_exp);
        self.values[..Self::N_POSE].copy_from_slice(source.pose());
        let (k_id, k_exp) = (n_id.min(source.n_id()), n_exp.min(source.n_exp()));
        self.id_mut()[..k_id].copy_from_slice(&source.id()[..k_id]);
        self.exp_mut()[..k_exp].copy_from_slice(&source.exp()[..k_exp]);
    }

    /// All zero with these dimensions, reusing the allocation (it grows only when too small).
    pub fn set_zeros(&mut self, n_id: usize, n_exp: usize) {
        self.values.clear();
        self.values.resize(Self::N_POSE + n_id + n_exp, 0.0);
        self.n_id = n_id;
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn n_id(&self) -> usize {
        self.n_id
    }

    pub fn n_exp(&self) -> usize {
        self.values.len() - Self::N_POSE - self.n_id
    }

    /// Index of `α_exp[0]` in the vector.
    pub fn exp_start(&self) -> usize {
        Self::N_POSE + self.n_id
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.values
    }

    pub fn into_vec(self) -> Vec<f64> {
        self.values
    }

    /// `[s, pitch, yaw, roll, tx, ty]`.
    pub fn pose(&self) -> &[f64] {
        &self.values[..Self::N_POSE]
    }

    pub fn id(&self) -> &[f64] {
        &self.values[Self::N_POSE..self.exp_start()]
    }

    pub fn exp(&self) -> &[f64] {
        &self.values[self.exp_start()..]
    }

    pub fn id_mut(&mut self) -> &mut [f64] {
        let end = self.exp_start();
        &mut self.values[Self::N_POSE..end]
    }

    pub fn exp_mut(&mut self) -> &mut [f64] {
        let start = self.exp_start();
        &mut self.values[start..]
    }

    pub fn s(&self) -> f64 {
        self.values[Self::S]
    }
    pub fn pitch(&self) -> f64 {
        self.values[Self::PITCH]
    }
    pub fn yaw(&self) -> f64 {
        self.values[Self::YAW]
    }
    pub fn roll(&self) -> f64 {
        self.values[Self::ROLL]
    }
    pub fn tx(&self) -> f64 {
        self.values[Self::TX]
    }
    pub fn ty(&self) -> f64 {
        self.values[Self::TY]
    }
    pub fn set_s(&mut self, v: f64) {
        self.values[Self::S] = v;
    }
    pub fn set_pitch(&mut self, v: f64) {
        self.values[Self::PITCH] = v;
    }
    pub fn set_yaw(&mut self, v: f64) {
        self.values[Self::YAW] = v;
    }
    pub fn set_roll(&mut self, v: f64) {
        self.values[Self::ROLL] = v;
    }
    pub fn set_tx(&mut self, v: f64) {
        self.values[Self::TX] = v;
    }
    pub fn set_ty(&mut self, v: f64) {
        self.values[Self::TY] = v;
    }
}

fn to_dataset(alpha: &[f64], sigma: &[f32]) -> Vec<f64> {
    sigma
        .iter()
        .enumerate()
        .map(|(i, &s)| alpha.get(i).copied().unwrap_or(0.0) * f64::from(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_dims() {
        let mut p = Params::zeros(3, 2);
        assert_eq!((p.len(), p.n_id(), p.n_exp(), p.exp_start()), (11, 3, 2, 9));
        p.set_ty(5.0);
        p.id_mut()[2] = 7.0;
        p.exp_mut()[0] = 8.0;
        assert_eq!(p.as_slice()[Params::TY], 5.0);
        assert_eq!(p.as_slice()[8], 7.0);
        assert_eq!(p.as_slice()[9], 8.0);
        let q = p.with_dims(1, 4);
        assert_eq!(
            q.as_slice(),
            &[0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 8.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn wrong_length_is_an_error() {
        assert!(matches!(
            Params::from_values(vec![0.0; 10], 3, 2),
            Err(ParamsError::Length {
                expected: 11,
                found: 10,
                ..
            })
        ));
    }
}
