//! The panel's layer: egui draws into a texture of the window's size only when the panel changes
//! (input, its animations, or a few times a second for the live readouts), and every window frame
//! lays that texture over the video view in one cheap pass. On a software renderer drawing egui's
//! text and plot costs more than the whole video view, so the window's frame rate would
//! otherwise be the panel's.

/// A texture the panel is drawn into, and the pass that lays it over a target.
pub struct PanelLayer {
    format: wgpu::TextureFormat,
    /// Blends the layer over the target (a popup over the video).
    pipeline: wgpu::RenderPipeline,
    /// Writes the layer as it is: the panel, opaque, where the target takes no copies.
    opaque: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    target: Option<Target>,
}

struct Target {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    bind_group: wgpu::BindGroup,
    size: [u32; 2],
}

/// Where egui drew, in physical pixels: `[x0, y0, x1, y1]`; the composite pass is scissored to it.
pub type Bounds = [u32; 4];

impl PanelLayer {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("composite"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/composite.wgsl").into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("panel layer"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            }],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("composite"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let make = |blend: Option<wgpu::BlendState>| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("composite"),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some("vs_composite"),
                    buffers: &[],
                    compilation_options: Default::default(),
                },
                primitive: Default::default(),
                depth_stencil: None,
                multisample: Default::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some("fs_composite"),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                    compilation_options: Default::default(),
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let pipeline = make(Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING));
        let opaque = make(None);
        Self {
            format,
            pipeline,
            opaque,
            layout,
            target: None,
        }
    }

    /// The layer's view for egui to draw into, made (again) at `size`.
    pub fn view(&mut self, device: &wgpu::Device, size: [u32; 2]) -> &wgpu::TextureView {
        if self.target.as_ref().is_none_or(|t| t.size != size) {
            let texture = device.create_texture(&wgpu::TextureDescriptor {
                label: Some("panel layer"),
                size: wgpu::Extent3d {
                    width: size[0].max(1),
                    height: size[1].max(1),
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: self.format,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                    | wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            });
            let view = texture.create_view(&Default::default());
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("panel layer"),
                layout: &self.layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&view),
                }],
            });
            self.target = Some(Target {
                texture,
                view,
                bind_group,
                size,
            });
        }
        match &self.target {
            Some(t) => &t.view,
            None => unreachable!("the layer's target was just made"),
        }
    }

    /// Lays the layer over `target` (of the layer's size) inside `bounds`. Left of `opaque_x`
    /// the layer is the panel, opaque: there it is copied when the target takes copies, and only
    /// the rest (a popup over the video) is blended.
    pub fn composite(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::Texture,
        bounds: Bounds,
        opaque_x: u32,
    ) {
        let Some(t) = &self.target else { return };
        let [x0, y0, x1, y1] = [
            bounds[0].min(t.size[0]),
            bounds[1].min(t.size[1]),
            bounds[2].min(t.size[0]),
            bounds[3].min(t.size[1]),
        ];
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let copyable = target.usage().contains(wgpu::TextureUsages::COPY_DST)
            && target.format() == t.texture.format()
            && [target.width(), target.height()] == t.size;
        let panel_w = opaque_x.min(t.size[0]);
        if copyable && panel_w > 0 {
            encoder.copy_texture_to_texture(
                t.texture.as_image_copy(),
                target.as_image_copy(),
                wgpu::Extent3d {
                    width: panel_w,
                    height: t.size[1],
                    depth_or_array_layers: 1,
                },
            );
        }
        let blend_from = x0.max(panel_w);
        let draw_panel = !copyable && panel_w > 0;
        let draw_rest = x1 > blend_from;
        if !draw_panel && !draw_rest {
            return;
        }
        let view = target.create_view(&Default::default());
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("panel composite"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Load,
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_bind_group(0, &t.bind_group, &[]);
        if draw_panel {
            // Written, not blended: reading the target back costs a software renderer.
            pass.set_scissor_rect(0, 0, panel_w, t.size[1]);
            pass.set_pipeline(&self.opaque);
            pass.draw(0..3, 0..1);
        }
        if draw_rest {
            pass.set_scissor_rect(blend_from, y0, x1 - blend_from, y1 - y0);
            pass.set_pipeline(&self.pipeline);
            pass.draw(0..3, 0..1);
        }
    }
}

/// The union of the clip rectangles of egui's primitives, in physical pixels.
pub fn paint_bounds(jobs: &[egui::ClippedPrimitive], pixels_per_point: f32) -> Bounds {
    let mut r = egui::Rect::NOTHING;
    for j in jobs {
        // What was drawn, not what might have been: a clip rectangle can be the whole window.
        let drawn = match &j.primitive {
            egui::epaint::Primitive::Mesh(m) => {
                m.vertices.iter().fold(egui::Rect::NOTHING, |b, v| {
                    b.union(egui::Rect::from_min_max(v.pos, v.pos))
                })
            }
            egui::epaint::Primitive::Callback(c) => c.rect,
        };
        r = r.union(drawn.intersect(j.clip_rect));
    }
    if !r.is_positive() {
        return [0; 4];
    }
    let px = |v: f32| (v * pixels_per_point).max(0.0);
    [
        px(r.min.x).floor() as u32,
        px(r.min.y).floor() as u32,
        px(r.max.x).ceil() as u32,
        px(r.max.y).ceil() as u32,
    ]
}
