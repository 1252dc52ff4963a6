//! The 3D morphable model: learned landmark model, dense mesh, parameters, weak-perspective
//! projection and its Jacobian.
