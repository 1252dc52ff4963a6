// The fitted dense mesh: a depth-only pass, then the shaded surface where it is nearest (so the
// semi-transparent face never blends with its own hidden side), and the wireframe.

struct MeshIn {
    // Image pixels u, v and the depth z (toward the viewer) at image scale.
    @location(0) position: vec3<f32>,
    // Per-vertex normal in camera space (x right, y up, z toward the viewer).
    @location(1) normal: vec3<f32>,
};

// Invariant: the shaded pass tests its depth for equality with the depth pass's.
struct MeshOut {
    @builtin(position) @invariant position: vec4<f32>,
    @location(0) normal: vec3<f32>,
};

@vertex
fn vs_mesh(v: MeshIn) -> MeshOut {
    var out: MeshOut;
    out.position = vec4<f32>(image_to_clip(v.position.xy), depth_of(v.position.z), 1.0);
    out.normal = v.normal;
    return out;
}

// The depth pass writes no colour (its target's write mask is empty).
@fragment
fn fs_depth(in: MeshOut) -> @location(0) vec4<f32> {
    return vec4<f32>(0.0);
}

@fragment
fn fs_shade(in: MeshOut) -> @location(0) vec4<f32> {
    let n = normalize(in.normal);
    let l = normalize(scene.light_dir.xyz);
    let diffuse = max(dot(n, l), 0.0);
    let h = normalize(l + vec3<f32>(0.0, 0.0, 1.0));
    let specular = pow(max(dot(n, h), 0.0), 24.0) * 0.3;
    let rgb = scene.mesh_color.rgb * (0.3 + 0.7 * diffuse) + vec3<f32>(specular);
    return vec4<f32>(rgb, scene.mesh_alpha);
}

// Edges are pulled a little toward the viewer so that they win against the surface they lie on.
@vertex
fn vs_wire(v: MeshIn) -> @builtin(position) vec4<f32> {
    return vec4<f32>(image_to_clip(v.position.xy), max(depth_of(v.position.z) - 0.002, 0.0), 1.0);
}

@fragment
fn fs_wire() -> @location(0) vec4<f32> {
    return vec4<f32>(0.75, 0.95, 1.0, scene.wire_alpha);
}
