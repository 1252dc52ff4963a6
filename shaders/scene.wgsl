// What every pass of the video view shares: the scene uniform and the mapping from the frame's
// pixels to the letterboxed viewport. Concatenated in front of frame.wgsl, mesh.wgsl and
// marks.wgsl.

struct Scene {
    // The camera frame's size in pixels.
    image_size: vec2<f32>,
    // The letterboxed viewport the frame fills, in physical pixels.
    viewport_size: vec2<f32>,
    // Depth per pixel of model depth (z toward the viewer), so that the face stays inside [0, 1].
    depth_scale: f32,
    mesh_alpha: f32,
    wire_alpha: f32,
    _pad: f32,
    mesh_color: vec4<f32>,
    // Toward the light, in the right-handed camera space (x right, y up, z toward the viewer).
    light_dir: vec4<f32>,
};

@group(0) @binding(0) var<uniform> scene: Scene;

// Image pixels (origin at the centre of the top-left pixel, y down) to clip space.
fn image_to_clip(p: vec2<f32>) -> vec2<f32> {
    let t = (p + vec2<f32>(0.5)) / scene.image_size;
    return vec2<f32>(t.x * 2.0 - 1.0, 1.0 - t.y * 2.0);
}

// Image pixels to viewport pixels, where widths in pixels of the window are measured.
fn image_to_viewport(p: vec2<f32>) -> vec2<f32> {
    return (p + vec2<f32>(0.5)) / scene.image_size * scene.viewport_size;
}

fn viewport_to_clip(p: vec2<f32>) -> vec2<f32> {
    let t = p / scene.viewport_size;
    return vec2<f32>(t.x * 2.0 - 1.0, 1.0 - t.y * 2.0);
}

// Nearer (larger z) is smaller depth; the frame's own plane is the middle of the range.
fn depth_of(z: f32) -> f32 {
    return clamp(0.5 - z * scene.depth_scale, 0.0, 1.0);
}
