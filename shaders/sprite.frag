#version 330
// kind 0 gauge:   value.x = fraction of the limit (0..1), value.y = yellow zone start, value.z = red zone start,
//                 value.w = trend (change per minute, signed); colour = the value arc's colour
// kind 1 light:   value.x = breathing phase 0..1, value.y = 1 to spin (thinking); colour = status colour
// kind 2 avatar:  value.x = which emblem (CrewAgent code), value.y = breathing phase; colour = the agent's hue
// kind 3 dot:     value.x = blink phase 0..1; colour = dot colour
// kind 4 fill:    value.x = +1 a buy (a triangle pointing up), -1 a sell (pointing down); colour = the side's colour
#define PI 3.14159265
in vec2 v_local;
flat in vec4 v_value;
flat in vec4 v_color;
flat in float v_kind;
flat in float v_radius;
out vec4 frag_color;

float aa() { return 1.5 / v_radius; }  // about one and a half pixels, in local units
float fill(float d) { return clamp(0.5 - d / aa(), 0.0, 1.0); }  // d: signed distance, < 0 inside

float segment(vec2 p, vec2 a, vec2 b) {
    vec2 pa = p - a, ba = b - a;
    float h = clamp(dot(pa, ba) / dot(ba, ba), 0.0, 1.0);
    return length(pa - ba * h);
}

vec4 over(vec4 top, vec4 bottom) {
    float a = top.a + bottom.a * (1.0 - top.a);
    return vec4((top.rgb * top.a + bottom.rgb * bottom.a * (1.0 - top.a)) / max(a, 1e-4), a);
}

// Angle along a 270-degree gauge sweep, 0 at the lower left (225 deg), 1 at the lower right (-45 deg).
float sweep(vec2 p) {
    float angle = atan(p.y, p.x);                   // -pi..pi, 0 to the right
    float from_start = radians(225.0) - angle;      // clockwise from the start
    from_start = mod(from_start + 2.0 * PI, 2.0 * PI);
    return from_start / radians(270.0);
}

vec4 gauge(vec2 p) {
    float r = length(p);
    float t = sweep(p);
    vec4 color = vec4(0.0);
    // Dark disc.
    color = over(vec4(0.082, 0.090, 0.122, 0.92 * fill(r - 1.0)), color);
    float ring = abs(r - 0.80) - 0.085;
    if (t <= 1.0) {
        // Track with its zones faintly tinted, then the value arc.
        vec3 zone = t < v_value.y ? vec3(0.42, 0.77, 0.54) : (t < v_value.z ? vec3(0.91, 0.72, 0.35)
                                                                              : vec3(0.91, 0.42, 0.42));
        color = over(vec4(mix(vec3(0.20), zone, 0.35), fill(ring)), color);
        if (t <= v_value.x) color = over(vec4(v_color.rgb, fill(ring - 0.02)), color);
        // Threshold ticks at the zone boundaries, across the ring.
        for (int k = 0; k < 2; k++) {
            float at = k == 0 ? v_value.y : v_value.z;
            float angle = radians(225.0) - at * radians(270.0);
            vec2 dir = vec2(cos(angle), sin(angle));
            float d = segment(p, dir * 0.63, dir * 0.99) - 0.025;
            color = over(vec4(0.91, 0.92, 0.94, 0.9 * fill(d)), color);
        }
    }
    // Pulse the rim when in the red.
    if (v_value.x >= v_value.z) {
        float rim = abs(r - 1.0) - 0.03;
        color = over(vec4(v_color.rgb, 0.8 * fill(rim)), color);
    }
    return color;
}

vec4 light(vec2 p) {
    float r = length(p);
    float breathe = 0.55 + 0.45 * (0.5 - 0.5 * cos(2.0 * PI * v_value.x));
    vec4 color = vec4(v_color.rgb, breathe * fill(r - 0.55));
    float glow = exp(-4.0 * max(r - 0.45, 0.0)) * 0.45 * breathe;
    color = over(color, vec4(v_color.rgb, glow * step(r, 1.2)));
    if (v_value.y > 0.5) {  // thinking: a spinner arc around the light
        float angle = atan(p.y, p.x) / (2.0 * PI) + 0.5;
        float arc = step(fract(angle - v_value.x), 0.3);
        color = over(vec4(v_color.rgb, arc * fill(abs(r - 0.9) - 0.07)), color);
    }
    return color;
}

vec4 avatar(vec2 p) {
    float r = length(p);
    int emblem = int(v_value.x + 0.5);
    vec3 hue = v_color.rgb;
    vec4 color = vec4(mix(vec3(0.11, 0.12, 0.16), hue, 0.25), fill(r - 1.0));  // medallion
    color = over(vec4(hue, fill(abs(r - 0.95) - 0.05)), color);                // rim
    float d = 1e3;
    if (emblem == 1) {          // momentum: a rising chevron arrow
        d = min(segment(p, vec2(-0.5, -0.35), vec2(0.45, 0.4)), segment(p, vec2(0.45, 0.4), vec2(0.05, 0.42)));
        d = min(d, segment(p, vec2(0.45, 0.4), vec2(0.43, 0.0)));
    } else if (emblem == 2) {   // mean reversion: a wave about a centre line
        float wave = 0.32 * sin(p.x * 5.0);
        d = abs(p.y - wave) * 0.8;
        d = max(d, abs(p.x) - 0.6);
        d = min(d, max(abs(p.y), abs(p.x) - 0.6) + 0.04);
    } else if (emblem == 3) {   // risk: a shield
        vec2 q = vec2(abs(p.x), p.y);
        float top = max(q.x - 0.45, p.y - 0.45);
        float point = dot(q - vec2(0.0, -0.6), normalize(vec2(0.9, -0.55)));
        d = abs(max(max(top, point), -0.6 - p.y)) - 0.0;
    } else if (emblem == 4) {   // delta hedge: a balance
        d = min(segment(p, vec2(-0.55, 0.25), vec2(0.55, 0.25)), segment(p, vec2(0.0, 0.5), vec2(0.0, -0.5)));
        d = min(d, abs(length(p - vec2(-0.45, -0.05)) - 0.17));
        d = min(d, abs(length(p - vec2(0.45, -0.05)) - 0.17));
    } else if (emblem == 5) {   // perception: an eye
        float lens = max(length(p - vec2(0.0, -0.55)) - 0.85, length(p - vec2(0.0, 0.55)) - 0.85);
        d = min(abs(lens), abs(length(p) - 0.18));
    } else {                    // research and others: a compass rose
        vec2 q = abs(p);
        d = min(max(q.x * 3.0 + q.y - 0.6, -1.0), max(q.y * 3.0 + q.x - 0.6, -1.0));
        d = abs(d) / 3.0;
    }
    float breathe = 0.75 + 0.25 * (0.5 - 0.5 * cos(2.0 * PI * v_value.y));
    color = over(vec4(mix(hue, vec3(1.0), 0.35) * breathe, fill(d - 0.06) * step(r, 0.95)), color);
    return color;
}

vec4 dot_marker(vec2 p) {
    float r = length(p);
    float blink = 0.6 + 0.4 * (0.5 - 0.5 * cos(2.0 * PI * v_value.x));
    vec4 color = vec4(v_color.rgb, fill(r - 0.45));
    color = over(vec4(1.0, 1.0, 1.0, 0.9 * fill(r - 0.2)), color);
    float halo = fill(abs(r - 0.45 - 0.5 * v_value.x) - 0.04) * (1.0 - v_value.x) * blink;
    return over(color, vec4(v_color.rgb, halo));
}

// Signed distance to an equilateral triangle pointing up, centred on the origin (Inigo Quilez's formula).
float triangle(vec2 p, float r) {
    const float k = 1.7320508;
    p.x = abs(p.x) - r;
    p.y = p.y + r / k;
    if (p.x + k * p.y > 0.0) p = vec2(p.x - k * p.y, -k * p.x - p.y) / 2.0;
    p.x -= clamp(p.x, -2.0 * r, 0.0);
    return -length(p) * sign(p.y);
}

vec4 fill_marker(vec2 p) {
    p.y *= v_value.x >= 0.0 ? 1.0 : -1.0;
    float d = triangle(p + vec2(0.0, 0.12), 0.62);
    vec4 color = vec4(0.06, 0.07, 0.09, fill(d - 0.14));  // a dark rim: the marker reads on the price line too
    return over(vec4(v_color.rgb, fill(d)), color);
}

void main() {
    vec4 color;
    if (v_kind < 0.5) color = gauge(v_local);
    else if (v_kind < 1.5) color = light(v_local);
    else if (v_kind < 2.5) color = avatar(v_local);
    else if (v_kind < 3.5) color = dot_marker(v_local);
    else color = fill_marker(v_local);
    if (color.a <= 0.003) discard;
    frag_color = vec4(color.rgb, color.a * v_color.a);
}
