// The camera frame, filling the letterboxed viewport: one triangle that covers it.

@group(1) @binding(0) var frame_texture: texture_2d<f32>;
@group(1) @binding(1) var frame_sampler: sampler;

struct FrameOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

@vertex
fn vs_frame(@builtin(vertex_index) i: u32) -> FrameOut {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    var out: FrameOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 1.0, 1.0);
    out.uv = uv;
    return out;
}

@fragment
fn fs_frame(in: FrameOut) -> @location(0) vec4<f32> {
    let size = textureDimensions(frame_texture);
    // Pixel for pixel, each fragment is one texel: a load, no filtering (cheaper on a software
    // renderer, and the same picture).
    if (all(scene.viewport_size == vec2<f32>(size))) {
        let texel = min(vec2<u32>(in.uv * vec2<f32>(size)), size - vec2<u32>(1u));
        return vec4<f32>(textureLoad(frame_texture, texel, 0).rgb, 1.0);
    }
    return vec4<f32>(textureSampleLevel(frame_texture, frame_sampler, in.uv, 0.0).rgb, 1.0);
}
