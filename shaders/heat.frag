#version 330
// The sea chart's volatility heat field, with the area under the price line folded into the same opaque pass
// (blending is ~3x the cost of an opaque pass on llvmpipe). No textures and no trigonometry: per-column values
// come from uniform arrays, so the pass is cheap ALU even on a software rasteriser.
#define COLUMNS 128
uniform float u_sea[COLUMNS];   // sea state 0 calm .. 1 storm, per column along the time axis
uniform float u_line[COLUMNS];  // price line height per column, 0..1 of the chart; < 0 where there is no data
uniform vec4 u_ramp[4];         // calm → storm colours
uniform float u_time;           // view time in seconds (ticks × dt): deterministic
uniform vec3 u_base;            // background colour
in vec2 v_uv;
out vec4 frag_color;

float column_value(float values[COLUMNS], float x) {
    float f = clamp(x, 0.0, 1.0) * float(COLUMNS - 1);
    int i = int(floor(f));
    int j = min(i + 1, COLUMNS - 1);
    return mix(values[i], values[j], f - float(i));
}

vec3 ramp(float t) {
    t = clamp(t, 0.0, 1.0) * 3.0;
    if (t < 1.0) return mix(u_ramp[0].rgb, u_ramp[1].rgb, t);
    if (t < 2.0) return mix(u_ramp[1].rgb, u_ramp[2].rgb, t - 1.0);
    return mix(u_ramp[2].rgb, u_ramp[3].rgb, t - 2.0);
}

void main() {
    float sea = column_value(u_sea, v_uv.x);
    float line = column_value(u_line, v_uv.x);
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
    // Grid: faint horizontal and vertical rules every 1/8 and 1/12 of the chart.
    vec2 grid = abs(fract(v_uv * vec2(12.0, 8.0) + 0.5) - 0.5) / fwidth(v_uv * vec2(12.0, 8.0));
    float rule = 1.0 - clamp(min(grid.x, grid.y), 0.0, 1.0);
    color += vec3(0.035) * rule;
    frag_color = vec4(color, 1.0);
}
