#version 330
// A thick polyline as a triangle strip built on the CPU: each vertex carries its side (-1/+1 across the line,
// for anti-aliasing) and its distance along the line in pixels (for dashes).
uniform vec2 u_res;
in vec2 in_pos;
in float in_across;
in float in_along;
out float v_across;
out float v_along;
void main() {
    v_across = in_across;
    v_along = in_along;
    gl_Position = vec4(in_pos / u_res * 2.0 - 1.0, 0.0, 1.0);
}
