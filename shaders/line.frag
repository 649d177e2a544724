#version 330
uniform vec4 u_color;
uniform float u_half_width;  // px
uniform float u_dash;        // dash period in px; 0 = solid
in float v_across;
in float v_along;
out vec4 frag_color;
void main() {
    if (u_dash > 0.0 && fract(v_along / u_dash) > 0.55) discard;
    // v_across is -1..1 over half_width + 1 px: fade the outer pixel for a smooth edge.
    float edge = (1.0 - abs(v_across)) * (u_half_width + 1.0);
    float alpha = clamp(edge, 0.0, 1.0);
    frag_color = vec4(u_color.rgb, u_color.a * alpha);
}
