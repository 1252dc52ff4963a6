//! The video view: the camera frame as a texture filling a letterboxed viewport, and over it the
//! fit of that same frame — the dense mesh (shaded and semi-transparent, or as a wireframe), the
//! landmarks and the head's axes. Buffers are made once for the model and refilled in place;
//! only a change of the frame's size makes a new texture.

use std::num::NonZeroU64;

use bytemuck::{Pod, Zeroable};

use super::overlay::{LIGHT_DIR, MESH_ALPHA, MESH_COLOR, Mark, MeshVertex, Overlay};

/// The depth format of the view's pass (the mesh's depth-only pass writes it).
pub const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Behind the letterbox.
const BACKGROUND: wgpu::Color = wgpu::Color {
    r: 0.06,
    g: 0.06,
    b: 0.07,
    a: 1.0,
};
const WIRE_ALPHA: f32 = 0.55;

/// How the mesh is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshStyle {
    Shaded,
    Wireframe,
    Hidden,
}

impl MeshStyle {
    pub fn next(self) -> Self {
        match self {
            Self::Shaded => Self::Wireframe,
            Self::Wireframe => Self::Hidden,
            Self::Hidden => Self::Shaded,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Shaded => "shaded",
            Self::Wireframe => "wireframe",
            Self::Hidden => "hidden",
        }
    }
}

/// What to draw over the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewOptions {
    pub mesh: MeshStyle,
    pub landmarks: bool,
    pub axes: bool,
}

impl Default for ViewOptions {
    fn default() -> Self {
        Self {
            mesh: MeshStyle::Shaded,
            landmarks: true,
            axes: true,
        }
    }
}

/// A rectangle in physical pixels of the render target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelRect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// The largest rectangle of the image's aspect ratio centred in `area`, clipped to a target of
/// `target` pixels (viewports must lie inside it); `None` when nothing is left to draw into.
/// A scale within two pixels of a whole one is taken whole: pixel for pixel the frame stays
/// sharp, and can be copied rather than drawn.
pub fn letterbox(area: PixelRect, image: [u32; 2], target: [u32; 2]) -> Option<PixelRect> {
    if image[0] == 0 || image[1] == 0 {
        return None;
    }
    let (iw, ih) = (image[0] as f32, image[1] as f32);
    let mut scale = (area.w / iw).min(area.h / ih);
    if scale >= 1.0 && (scale - scale.floor()) * iw.max(ih) < 2.0 {
        scale = scale.floor();
    }
    let (w, h) = ((iw * scale).floor(), (ih * scale).floor());
    let x = (area.x + (area.w - w) / 2.0).round().max(0.0);
    let y = (area.y + (area.h - h) / 2.0).round().max(0.0);
    let w = w.min(target[0] as f32 - x);
    let h = h.min(target[1] as f32 - y);
    (w >= 1.0 && h >= 1.0).then_some(PixelRect { x, y, w, h })
}

/// `scene.wgsl`'s `Scene`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
struct SceneUniform {
    image_size: [f32; 2],
    viewport_size: [f32; 2],
    depth_scale: f32,
    mesh_alpha: f32,
    wire_alpha: f32,
    _pad: f32,
    mesh_color: [f32; 4],
    light_dir: [f32; 4],
}

/// The frame texture and its bind group; made again only when the frame's size changes.
struct FrameTexture {
    texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
    size: [u32; 2],
}

pub struct SceneRenderer {
    target_format: wgpu::TextureFormat,
    frame_pipeline: wgpu::RenderPipeline,
    depth_pipeline: wgpu::RenderPipeline,
    shade_pipeline: wgpu::RenderPipeline,
    wire_pipeline: wgpu::RenderPipeline,
    mark_pipeline: wgpu::RenderPipeline,
    uniform: wgpu::Buffer,
    uniform_bind_group: wgpu::BindGroup,
    frame_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    frame: Option<FrameTexture>,
    /// RGB8 → RGBA8 staging, reused.
    rgba: Vec<u8>,
    vertex_buffer: wgpu::Buffer,
    triangle_buffer: wgpu::Buffer,
    edge_buffer: wgpu::Buffer,
    mark_buffer: wgpu::Buffer,
    n_triangle_indices: u32,
    n_edge_indices: u32,
    mark_capacity: usize,
    n_marks: u32,
    has_mesh: bool,
    last_uniform: SceneUniform,
}

fn shader(device: &wgpu::Device, label: &str, source: &'static str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

/// Colour blending over what is there (straight alpha).
const BLEND: wgpu::BlendState = wgpu::BlendState {
    color: wgpu::BlendComponent {
        src_factor: wgpu::BlendFactor::SrcAlpha,
        dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
        operation: wgpu::BlendOperation::Add,
    },
    alpha: wgpu::BlendComponent {
        src_factor: wgpu::BlendFactor::One,
        dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
        operation: wgpu::BlendOperation::Add,
    },
};

/// What differs between the view's pipelines.
struct PipelineSpec<'a> {
    label: &'a str,
    module: &'a wgpu::ShaderModule,
    layout: &'a wgpu::PipelineLayout,
    vs: &'a str,
    fs: &'a str,
    buffers: &'a [Option<wgpu::VertexBufferLayout<'a>>],
    topology: wgpu::PrimitiveTopology,
    cull: Option<wgpu::Face>,
    depth_write: bool,
    depth_compare: wgpu::CompareFunction,
    blend: Option<wgpu::BlendState>,
    writes: wgpu::ColorWrites,
}

fn pipeline(
    device: &wgpu::Device,
    format: wgpu::TextureFormat,
    s: PipelineSpec,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(s.label),
        layout: Some(s.layout),
        vertex: wgpu::VertexState {
            module: s.module,
            entry_point: Some(s.vs),
            buffers: s.buffers,
            compilation_options: Default::default(),
        },
        primitive: wgpu::PrimitiveState {
            topology: s.topology,
            strip_index_format: None,
            front_face: wgpu::FrontFace::Ccw,
            cull_mode: s.cull,
            unclipped_depth: false,
            polygon_mode: wgpu::PolygonMode::Fill,
            conservative: false,
        },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(s.depth_write),
            depth_compare: Some(s.depth_compare),
            stencil: Default::default(),
            bias: Default::default(),
        }),
        multisample: Default::default(),
        fragment: Some(wgpu::FragmentState {
            module: s.module,
            entry_point: Some(s.fs),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend: s.blend,
                write_mask: s.writes,
            })],
            compilation_options: Default::default(),
        }),
        multiview_mask: None,
        cache: None,
    })
}

impl SceneRenderer {
    /// Pipelines for a target of `target_format`, buffers for `overlay`'s mesh.
    pub fn new(
        device: &wgpu::Device,
        target_format: wgpu::TextureFormat,
        overlay: &Overlay,
    ) -> Self {
        let frame_module = shader(
            device,
            "frame",
            concat!(
                include_str!("../../shaders/scene.wgsl"),
                include_str!("../../shaders/frame.wgsl")
            ),
        );
        let mesh_module = shader(
            device,
            "mesh",
            concat!(
                include_str!("../../shaders/scene.wgsl"),
                include_str!("../../shaders/mesh.wgsl")
            ),
        );
        let mark_module = shader(
            device,
            "marks",
            concat!(
                include_str!("../../shaders/scene.wgsl"),
                include_str!("../../shaders/marks.wgsl")
            ),
        );

        let uniform_size = std::mem::size_of::<SceneUniform>() as u64;
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("scene uniform"),
            size: uniform_size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let uniform_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("scene uniform"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: NonZeroU64::new(uniform_size),
                },
                count: None,
            }],
        });
        let uniform_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("scene uniform"),
            layout: &uniform_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform.as_entire_binding(),
            }],
        });
        let frame_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("frame"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("frame"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });

        let scene_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("scene"),
            bind_group_layouts: &[Some(&uniform_layout)],
            immediate_size: 0,
        });
        let frame_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("frame"),
                bind_group_layouts: &[Some(&uniform_layout), Some(&frame_layout)],
                immediate_size: 0,
            });

        let mesh_buffers = [Some(wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<MeshVertex>() as u64,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3],
        })];
        let mark_buffers = [Some(wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<Mark>() as u64,
            step_mode: wgpu::VertexStepMode::Instance,
            attributes: &wgpu::vertex_attr_array![
                0 => Float32x2, 1 => Float32x2, 2 => Float32x4, 3 => Float32, 4 => Float32
            ],
        })];
        let base = |label, module, layout, vs, fs| PipelineSpec {
            label,
            module,
            layout,
            vs,
            fs,
            buffers: &[],
            topology: wgpu::PrimitiveTopology::TriangleList,
            cull: None,
            depth_write: false,
            depth_compare: wgpu::CompareFunction::Always,
            blend: Some(BLEND),
            writes: wgpu::ColorWrites::ALL,
        };
        let fmt = target_format;
        let frame_pipeline = pipeline(
            device,
            fmt,
            PipelineSpec {
                blend: None,
                ..base(
                    "frame",
                    &frame_module,
                    &frame_pipeline_layout,
                    "vs_frame",
                    "fs_frame",
                )
            },
        );
        let depth_pipeline = pipeline(
            device,
            fmt,
            PipelineSpec {
                buffers: &mesh_buffers,
                cull: Some(wgpu::Face::Back),
                depth_write: true,
                depth_compare: wgpu::CompareFunction::Less,
                blend: None,
                writes: wgpu::ColorWrites::empty(),
                ..base(
                    "mesh depth",
                    &mesh_module,
                    &scene_layout,
                    "vs_mesh",
                    "fs_depth",
                )
            },
        );
        let shade_pipeline = pipeline(
            device,
            fmt,
            PipelineSpec {
                buffers: &mesh_buffers,
                cull: Some(wgpu::Face::Back),
                depth_write: true,
                depth_compare: wgpu::CompareFunction::Less,
                ..base(
                    "mesh shaded",
                    &mesh_module,
                    &scene_layout,
                    "vs_mesh",
                    "fs_shade",
                )
            },
        );
        let wire_pipeline = pipeline(
            device,
            fmt,
            PipelineSpec {
                buffers: &mesh_buffers,
                topology: wgpu::PrimitiveTopology::LineList,
                depth_compare: wgpu::CompareFunction::LessEqual,
                ..base(
                    "mesh wireframe",
                    &mesh_module,
                    &scene_layout,
                    "vs_wire",
                    "fs_wire",
                )
            },
        );
        let mark_pipeline = pipeline(
            device,
            fmt,
            PipelineSpec {
                buffers: &mark_buffers,
                ..base("marks", &mark_module, &scene_layout, "vs_mark", "fs_mark")
            },
        );

        let buffer = |label, size: usize, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(4) as u64,
                usage: usage | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let vertex_buffer = buffer(
            "mesh vertices",
            std::mem::size_of_val(overlay.vertices()),
            wgpu::BufferUsages::VERTEX,
        );
        let triangle_buffer = buffer(
            "mesh triangles",
            overlay.triangle_indices().len() * 4,
            wgpu::BufferUsages::INDEX,
        );
        let edge_buffer = buffer(
            "mesh edges",
            overlay.edge_indices().len() * 4,
            wgpu::BufferUsages::INDEX,
        );
        let mark_capacity = overlay.max_marks().max(128);
        let mark_buffer = buffer(
            "marks",
            mark_capacity * std::mem::size_of::<Mark>(),
            wgpu::BufferUsages::VERTEX,
        );
        Self {
            target_format,
            frame_pipeline,
            depth_pipeline,
            shade_pipeline,
            wire_pipeline,
            mark_pipeline,
            uniform,
            uniform_bind_group,
            frame_layout,
            sampler,
            frame: None,
            rgba: Vec::new(),
            vertex_buffer,
            triangle_buffer,
            edge_buffer,
            mark_buffer,
            n_triangle_indices: overlay.triangle_indices().len() as u32,
            n_edge_indices: overlay.edge_indices().len() as u32,
            mark_capacity,
            n_marks: 0,
            has_mesh: false,
            last_uniform: SceneUniform::default(),
        }
    }

    /// Uploads the mesh's index buffers (once; they never change).
    pub fn upload_indices(&self, queue: &wgpu::Queue, overlay: &Overlay) {
        queue.write_buffer(
            &self.triangle_buffer,
            0,
            bytemuck::cast_slice(overlay.triangle_indices()),
        );
        queue.write_buffer(
            &self.edge_buffer,
            0,
            bytemuck::cast_slice(overlay.edge_indices()),
        );
    }

    /// The size of the frame shown, `[0, 0]` before the first.
    pub fn frame_size(&self) -> [u32; 2] {
        self.frame.as_ref().map_or([0, 0], |f| f.size)
    }

    /// Uploads a frame (RGB8, `width·height·3` bytes) and the overlay fitted to it, together, so
    /// that what is drawn is always the fit of the frame shown.
    pub fn set_frame(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        width: usize,
        height: usize,
        rgb: &[u8],
        overlay: &Overlay,
    ) {
        let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
            return;
        };
        if w == 0 || h == 0 || rgb.len() != width * height * 3 {
            return;
        }
        let limit = device.limits().max_texture_dimension_2d;
        if w > limit || h > limit {
            return;
        }
        if self.frame.as_ref().is_none_or(|f| f.size != [w, h]) {
            self.frame = Some(self.make_frame_texture(device, w, h));
        }
        self.rgba.resize(width * height * 4, 255);
        if self.frame_format() == wgpu::TextureFormat::Bgra8Unorm {
            for (dst, src) in self.rgba.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
                dst[0] = src[2];
                dst[1] = src[1];
                dst[2] = src[0];
            }
        } else {
            for (dst, src) in self.rgba.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
                dst[..3].copy_from_slice(src);
            }
        }
        if let Some(frame) = &self.frame {
            queue.write_texture(
                frame.texture.as_image_copy(),
                &self.rgba,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(4 * w),
                    rows_per_image: None,
                },
                wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
            );
        }

        self.has_mesh = overlay.has_mesh();
        if self.has_mesh {
            queue.write_buffer(
                &self.vertex_buffer,
                0,
                bytemuck::cast_slice(overlay.vertices()),
            );
            // Nearest first: their order changes with the pose.
            queue.write_buffer(
                &self.triangle_buffer,
                0,
                bytemuck::cast_slice(overlay.triangle_indices()),
            );
        }
        let marks = &overlay.marks()[..overlay.marks().len().min(self.mark_capacity)];
        self.n_marks = marks.len() as u32;
        if !marks.is_empty() {
            queue.write_buffer(&self.mark_buffer, 0, bytemuck::cast_slice(marks));
        }
    }

    /// The frame texture's format: the target's when it is plain 8-bit RGBA or BGRA (the frame
    /// can then be copied into the target as it is); else RGBA, decoded from sRGB for an sRGB
    /// target, which would otherwise encode the camera's bytes a second time.
    fn frame_format(&self) -> wgpu::TextureFormat {
        match self.target_format {
            f @ (wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Rgba8Unorm) => f,
            f if f.is_srgb() => wgpu::TextureFormat::Rgba8UnormSrgb,
            _ => wgpu::TextureFormat::Rgba8Unorm,
        }
    }

    fn make_frame_texture(&self, device: &wgpu::Device, w: u32, h: u32) -> FrameTexture {
        // A gamma-space target shows the camera's bytes as they are; an sRGB one would encode
        // them again, so there the texture decodes them first.
        let format = self.frame_format();
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("frame"),
            size: wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_DST
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("frame"),
            layout: &self.frame_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        });
        FrameTexture {
            texture,
            bind_group,
            size: [w, h],
        }
    }

    /// Writes the uniform for this viewport (only when it changed).
    pub fn prepare(&mut self, queue: &wgpu::Queue, viewport: Option<PixelRect>) {
        let [w, h] = self.frame_size();
        let Some(vp) = viewport else { return };
        let light = LIGHT_DIR.normalize();
        let u = SceneUniform {
            image_size: [w as f32, h as f32],
            viewport_size: [vp.w, vp.h],
            // The face's depth stays well inside ±(w + h) pixels.
            depth_scale: 0.5 / (w + h).max(1) as f32,
            mesh_alpha: MESH_ALPHA,
            wire_alpha: WIRE_ALPHA,
            _pad: 0.0,
            mesh_color: MESH_COLOR,
            light_dir: [light.x, light.y, light.z, 0.0],
        };
        if u != self.last_uniform {
            queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&u));
            self.last_uniform = u;
        }
    }

    /// Clears `target` and draws the frame and its overlay into `viewport` (from [`letterbox`]).
    /// Where the frame fills the viewport pixel for pixel and the target can be copied into, it
    /// is copied rather than drawn: on a software renderer that is most of a window frame's cost.
    pub fn draw(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::Texture,
        depth: &wgpu::TextureView,
        viewport: Option<PixelRect>,
        options: ViewOptions,
    ) {
        let view = target.create_view(&Default::default());
        let copy_at = match (viewport, &self.frame) {
            (Some(vp), Some(frame)) => copy_origin(vp, frame, target),
            _ => None,
        };
        if let (Some(origin), Some(frame)) = (copy_at, &self.frame) {
            clear(encoder, &view);
            encoder.copy_texture_to_texture(
                frame.texture.as_image_copy(),
                wgpu::TexelCopyTextureInfo {
                    texture: target,
                    mip_level: 0,
                    origin,
                    aspect: wgpu::TextureAspect::All,
                },
                frame.texture.size(),
            );
        }
        let load = if copy_at.is_some() {
            wgpu::LoadOp::Load
        } else {
            wgpu::LoadOp::Clear(BACKGROUND)
        };
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("video view"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load,
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: depth,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        let (Some(vp), Some(frame)) = (viewport, &self.frame) else {
            return;
        };
        pass.set_viewport(vp.x, vp.y, vp.w, vp.h, 0.0, 1.0);
        pass.set_bind_group(0, &self.uniform_bind_group, &[]);

        if copy_at.is_none() {
            pass.set_pipeline(&self.frame_pipeline);
            pass.set_bind_group(1, &frame.bind_group, &[]);
            pass.draw(0..3, 0..1);
        }

        if self.has_mesh && options.mesh != MeshStyle::Hidden {
            pass.set_vertex_buffer(0, self.vertex_buffer.slice(..));
            pass.set_index_buffer(self.triangle_buffer.slice(..), wgpu::IndexFormat::Uint32);
            match options.mesh {
                MeshStyle::Shaded => {
                    pass.set_pipeline(&self.shade_pipeline);
                    pass.draw_indexed(0..self.n_triangle_indices, 0, 0..1);
                }
                MeshStyle::Wireframe => {
                    // The surface's depth first, so that edges behind it stay hidden.
                    pass.set_pipeline(&self.depth_pipeline);
                    pass.draw_indexed(0..self.n_triangle_indices, 0, 0..1);
                    pass.set_index_buffer(self.edge_buffer.slice(..), wgpu::IndexFormat::Uint32);
                    pass.set_pipeline(&self.wire_pipeline);
                    pass.draw_indexed(0..self.n_edge_indices, 0, 0..1);
                }
                MeshStyle::Hidden => {}
            }
        }

        // The axes come first in the marks, then the landmarks.
        let axes = if self.n_marks > 0 && self.has_mesh {
            3.min(self.n_marks)
        } else {
            0
        };
        let range = match (options.axes, options.landmarks) {
            (true, true) => 0..self.n_marks,
            (true, false) => 0..axes,
            (false, true) => axes..self.n_marks,
            (false, false) => 0..0,
        };
        if !range.is_empty() {
            pass.set_pipeline(&self.mark_pipeline);
            pass.set_vertex_buffer(0, self.mark_buffer.slice(..));
            pass.draw(0..6, range);
        }
    }
}

/// Where in `target` the frame can be copied to, if it can: the same format, a target that
/// takes copies, and a viewport of exactly the frame's size at whole pixels inside the target.
fn copy_origin(
    vp: PixelRect,
    frame: &FrameTexture,
    target: &wgpu::Texture,
) -> Option<wgpu::Origin3d> {
    let exact = vp.w == frame.size[0] as f32
        && vp.h == frame.size[1] as f32
        && vp.x.fract() == 0.0
        && vp.y.fract() == 0.0
        && vp.x >= 0.0
        && vp.y >= 0.0;
    let (x, y) = (vp.x as u32, vp.y as u32);
    let fits = x + frame.size[0] <= target.width() && y + frame.size[1] <= target.height();
    let copyable = target.usage().contains(wgpu::TextureUsages::COPY_DST)
        && target.format() == frame.texture.format();
    (exact && fits && copyable).then_some(wgpu::Origin3d { x, y, z: 0 })
}

/// A pass that only clears `view` to the background.
fn clear(encoder: &mut wgpu::CommandEncoder, view: &wgpu::TextureView) {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some("clear"),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(BACKGROUND),
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_the_aspect_ratio_and_centres() {
        let area = PixelRect {
            x: 300.0,
            y: 0.0,
            w: 900.0,
            h: 600.0,
        };
        let r = letterbox(area, [640, 480], [1200, 600]).unwrap();
        assert_eq!((r.w, r.h), (800.0, 600.0));
        assert_eq!((r.x, r.y), (350.0, 0.0));
        let tall = PixelRect {
            x: 0.0,
            y: 0.0,
            w: 400.0,
            h: 900.0,
        };
        let r = letterbox(tall, [640, 480], [400, 900]).unwrap();
        assert_eq!((r.w, r.h), (400.0, 300.0));
        assert_eq!(r.y, 300.0);
        assert!(letterbox(area, [0, 480], [1200, 600]).is_none());
        // A pixel to spare: shown pixel for pixel.
        let snug = PixelRect {
            x: 330.0,
            y: 0.0,
            w: 641.0,
            h: 560.0,
        };
        let r = letterbox(snug, [640, 480], [971, 560]).unwrap();
        assert_eq!((r.x, r.y, r.w, r.h), (331.0, 40.0, 640.0, 480.0));
        let empty = PixelRect { w: 0.0, ..area };
        assert!(letterbox(empty, [640, 480], [1200, 600]).is_none());
    }
}
