#version 330
// A quad given in window pixels (origin bottom-left); the fragment shader gets chart-local uv.
uniform vec2 u_res;
in vec2 in_pos;
in vec2 in_uv;
out vec2 v_uv;
void main() {
    v_uv = in_uv;
    gl_Position = vec4(in_pos / u_res * 2.0 - 1.0, 0.0, 1.0);
}
