#version 330
// The sea chart's volatility heat field, with the area under the price line folded into the same opaque pass
// (blending is ~3x the cost of an opaque pass on llvmpipe). No textures, no arrays and no trigonometry: the
// per-column values arrive interpolated from heat.vert.
uniform vec4 u_ramp[4];         // calm → storm colours
uniform float u_time;           // view time in seconds (ticks × dt): deterministic
uniform vec3 u_base;            // background colour
in vec2 v_uv;
in float v_sea;
in float v_line;
out vec4 frag_color;

vec3 ramp(float t) {
    t = clamp(t, 0.0, 1.0) * 3.0;
    if (t < 1.0) return mix(u_ramp[0].rgb, u_ramp[1].rgb, t);
    if (t < 2.0) return mix(u_ramp[1].rgb, u_ramp[2].rgb, t - 1.0);
    return mix(u_ramp[2].rgb, u_ramp[3].rgb, t - 2.0);
}

void main() {
    float sea = v_sea;
    float line = v_line;
    vec3 heat = ramp(sea);
    // Swell: a slow triangle wave whose amplitude grows with the sea state.
    float swell = abs(fract(v_uv.y * 6.0 - u_time * 0.15 + v_uv.x * 2.0) - 0.5) * 2.0;
    float strength = 0.16 + 0.22 * sea + 0.06 * sea * swell;
    // Fade the heat towards the top of the chart, so the price line stays the brightest thing.
    strength *= 0.55 + 0.45 * (1.0 - v_uv.y);
    vec3 color = mix(u_base, heat, strength);
    if (line >= 0.0 && v_uv.y <= line) {
        float depth = clamp((line - v_uv.y) * 4.0, 0.0, 1.0);
        color += heat * 0.10 * (1.0 - depth) + vec3(0.02, 0.03, 0.05);
    }
    // The grid is drawn over this at the axes' round values (panels/sea_chart.py), not at fixed fractions.
    frag_color = vec4(color, 1.0);
}
