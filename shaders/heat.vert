#version 330
// The heat field as a strip of columns along the time axis: each column edge carries its sea state and the price
// line's height, and the rasteriser interpolates them, so the fragment shader reads no arrays and no textures
// (the cheapest way to do it on a software rasteriser).
uniform vec2 u_res;
in vec2 in_pos;    // px
in vec2 in_uv;     // chart-local 0..1
in float in_sea;   // sea state 0 calm .. 1 storm
in float in_line;  // price line height 0..1 of the chart; < 0 where there is no data
out vec2 v_uv;
out float v_sea;
out float v_line;
void main() {
    v_uv = in_uv;
    v_sea = in_sea;
    v_line = in_line;
    gl_Position = vec4(in_pos / u_res * 2.0 - 1.0, 0.0, 1.0);
}
