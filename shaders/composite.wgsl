// The panel's layer (egui, drawn only when the panel changes) laid over the window: one triangle
// that covers the target, each fragment reading the layer's texel at its own position. The
// layer holds premultiplied colour; the pipeline blends it with `One, OneMinusSrcAlpha`.

@group(0) @binding(0) var layer: texture_2d<f32>;

@vertex
fn vs_composite(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
}

@fragment
fn fs_composite(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> {
    return textureLoad(layer, vec2<i32>(p.xy), 0);
}
