#version 330
// Flat rectangles (panel backgrounds, bars, outlines' edges), batched: one instanced draw per run of panels.
uniform vec2 u_res;
in vec2 in_corner;  // the unit quad, 0..1
in vec4 in_rect;    // left, bottom, width, height (px)
in vec4 in_color;
out vec4 v_color;
void main() {
    v_color = in_color;
    vec2 position = in_rect.xy + in_corner * in_rect.zw;
    gl_Position = vec4(position / u_res * 2.0 - 1.0, 0.0, 1.0);
}
