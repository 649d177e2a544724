#version 330
// Instanced sprites (gauges, crew avatars, status lights, the current-price dot): one quad per instance,
// drawn by signed-distance functions in sprite.frag.
uniform vec2 u_res;
in vec2 in_corner;       // the unit quad, -1..1
in vec4 in_geometry;     // centre x, centre y (px), radius (px), kind
in vec4 in_value;        // kind-specific numbers
in vec4 in_color;
out vec2 v_local;        // -1..1 inside the sprite
flat out vec4 v_value;
flat out vec4 v_color;
flat out float v_kind;
flat out float v_radius;
void main() {
    v_local = in_corner * 1.25;  // room for glows
    v_value = in_value;
    v_color = in_color;
    v_kind = in_geometry.w;
    v_radius = in_geometry.z;
    vec2 position = in_geometry.xy + in_corner * in_geometry.z * 1.25;
    gl_Position = vec4(position / u_res * 2.0 - 1.0, 0.0, 1.0);
}
