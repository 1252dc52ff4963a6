// Round-capped segments of a given width in window pixels, anti-aliased: the head's axes, and the
// landmarks as segments of zero length (dots), with a dark rim so they read on any skin.

struct MarkIn {
    @location(0) p0: vec2<f32>,
    @location(1) p1: vec2<f32>,
    @location(2) color: vec4<f32>,
    // Half the width, in window pixels.
    @location(3) radius: f32,
    // 1 for a dark rim.
    @location(4) outline: f32,
};

struct MarkOut {
    @builtin(position) position: vec4<f32>,
    // This fragment, the segment's ends and its radius in viewport pixels.
    @location(0) here: vec2<f32>,
    @location(1) @interpolate(flat) a: vec2<f32>,
    @location(2) @interpolate(flat) b: vec2<f32>,
    @location(3) @interpolate(flat) color: vec4<f32>,
    @location(4) @interpolate(flat) radius: f32,
    @location(5) @interpolate(flat) outline: f32,
};

@vertex
fn vs_mark(@builtin(vertex_index) i: u32, m: MarkIn) -> MarkOut {
    // Two triangles over the segment's box: x along it (0 at a, 1 at b), y across (±1).
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
    );
    let a = image_to_viewport(m.p0);
    let b = image_to_viewport(m.p1);
    let d = b - a;
    let len = length(d);
    let along = select(vec2<f32>(1.0, 0.0), d / max(len, 1e-6), len > 1e-3);
    let across = vec2<f32>(-along.y, along.x);
    // One pixel more than the radius, for the anti-aliased edge.
    let r = m.radius + 1.0;
    let c = corners[i];
    let p = mix(a - along * r, b + along * r, c.x) + across * r * c.y;
    var out: MarkOut;
    out.position = vec4<f32>(viewport_to_clip(p), 0.0, 1.0);
    out.here = p;
    out.a = a;
    out.b = b;
    out.color = m.color;
    out.radius = m.radius;
    out.outline = m.outline;
    return out;
}

@fragment
fn fs_mark(in: MarkOut) -> @location(0) vec4<f32> {
    let pa = in.here - in.a;
    let ba = in.b - in.a;
    let h = clamp(dot(pa, ba) / max(dot(ba, ba), 1e-6), 0.0, 1.0);
    let dist = length(pa - ba * h);
    let coverage = clamp(in.radius + 0.5 - dist, 0.0, 1.0);
    var rgb = in.color.rgb;
    if (in.outline > 0.5) {
        rgb = mix(rgb, vec3<f32>(0.05), smoothstep(in.radius - 1.6, in.radius - 0.6, dist));
    }
    return vec4<f32>(rgb, in.color.a * coverage);
}
