/*
 * Fused CPU kernels for the fast path of vsrife's IFNet (see vsrife/arch/kernels.py, which loads this library
 * with ctypes and checks every argument first).
 *
 * Between two IFBlocks, upstream's PyTorch code makes several full-resolution passes over memory: scale the
 * block's flow, up-sample flow and mask, add both to the running estimate. Here that is one pass, parallel over
 * rows with OpenMP, and written so that GCC vectorises the inner loops (where it does not, as for the warp's
 * sampling points, the x86-64-v4 version is written with AVX-512 intrinsics). The warp reads frames laid out
 * channels-last in groups of four channels, so that each neighbour is one 16-byte load (a planar version was
 * no faster than grid_sample).
 * Every kernel is built for x86-64-v4 (AVX-512) and for the baseline of the compiler's target (the int8 path's
 * also for x86-64-v3, AVX2), and the public entry points pick one at run time. Layouts and types are stated per function; sizes are int64_t.
 *
 * The arithmetic is upstream's (bilinear weights as torch.nn.functional.interpolate and grid_sample compute
 * them), in a different order, so results differ from the reference path by float rounding only.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_V4 1
#define TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#include <immintrin.h> /* intrinsics are usable inside TARGET_V4 functions without -mavx512f */
#define CPU_HAS_V4() (!use_baseline && (__builtin_cpu_init(), __builtin_cpu_supports("x86-64-v4")))
#define TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#define CPU_HAS_V3() (!use_baseline && (__builtin_cpu_init(), __builtin_cpu_supports("x86-64-v3")))
#else
#define HAVE_V4 0
#endif

/* Set by the tests, which compare the two builds of every kernel on machines that run both. */
static int use_baseline = 0;

void vsrife_use_baseline(int on) { use_baseline = on; }

#define INLINE static inline __attribute__((always_inline))

/* ---- bilinear up-sampling (align_corners=False), scaled and accumulated --------------------------------------- */

typedef struct {
    int32_t *first, *second; /* source indices */
    float *w_first, *w_second;
} Taps;

/* torch's source coordinate for align_corners=False and an explicit scale factor (ratio = 1 / scale factor) */
static void compute_taps(Taps *taps, int64_t out_size, int64_t in_size, float ratio) {
    for (int64_t d = 0; d < out_size; d++) {
        float src = ratio * ((float)d + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
        int32_t i0 = (int32_t)src;
        taps->first[d] = i0;
        taps->second[d] = i0 + (i0 < in_size - 1);
        taps->w_second[d] = src - (float)i0;
        taps->w_first[d] = 1.0f - taps->w_second[d];
    }
}

INLINE void upsample_row(const float *restrict top, const float *restrict bottom, float w_top, float w_bottom,
                         float *restrict blended, int64_t w, const Taps *restrict tx, float mult,
                         const float *restrict base, float *restrict out, int64_t W) {
    for (int64_t j = 0; j < w; j++) blended[j] = mult * (w_top * top[j] + w_bottom * bottom[j]);
    const int32_t *restrict i0 = tx->first, *restrict i1 = tx->second;
    const float *restrict l0 = tx->w_first, *restrict l1 = tx->w_second;
    if (base) {
        for (int64_t x = 0; x < W; x++) out[x] = base[x] + (l0[x] * blended[i0[x]] + l1[x] * blended[i1[x]]);
    } else {
        for (int64_t x = 0; x < W; x++) out[x] = l0[x] * blended[i0[x]] + l1[x] * blended[i1[x]];
    }
}

typedef void (*UpsampleRow)(const float *, const float *, float, float, float *, int64_t, const Taps *, float,
                           const float *, float *, int64_t);

#if HAVE_V4
/* upsample_row with the horizontal taps gathered 16 at a time (GCC emulates the gathers with scalar loads,
 * which took most of the time): the same arithmetic up to the order of one addition. */
TARGET_V4 static void upsample_row_v4(const float *top, const float *bottom, float w_top, float w_bottom,
                                      float *blended, int64_t w, const Taps *tx, float mult, const float *base,
                                      float *out, int64_t W) {
    for (int64_t j = 0; j < w; j++) blended[j] = mult * (w_top * top[j] + w_bottom * bottom[j]);
    for (int64_t x = 0; x < W; x += 16) {
        const __mmask16 m = W - x >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (W - x)) - 1);
        const __m512i i0 = _mm512_maskz_loadu_epi32(m, tx->first + x), i1 = _mm512_maskz_loadu_epi32(m, tx->second + x);
        const __m512 v0 = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, i0, blended, 4);
        const __m512 v1 = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, i1, blended, 4);
        __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, tx->w_first + x), v0,
                                   _mm512_mul_ps(_mm512_maskz_loadu_ps(m, tx->w_second + x), v1));
        if (base) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, base + x), v);
        _mm512_mask_storeu_ps(out + x, m, v);
    }
}
#endif

static void upsample_row_base(const float *top, const float *bottom, float w_top, float w_bottom, float *blended,
                              int64_t w, const Taps *tx, float mult, const float *base, float *out, int64_t W) {
    upsample_row(top, bottom, w_top, w_bottom, blended, w, tx, mult, base, out, W);
}

/*
 * out[b, ch] = base_planes[b * c + ch] + mult[ch] * upsample(low[b, ch])   (a NULL plane, or no list: no base)
 * low: n x c x h x w, out: n x c x H x W, each base plane H x W; ratio_* = 1 / scale factor (torch's convention).
 * Returns 0, or -1 if memory ran out.
 */
int vsrife_upsample_accumulate(const float *low, float *out, const float *const *base_planes, int64_t n, int64_t c,
                               int64_t h, int64_t w, int64_t H, int64_t W, float ratio_h, float ratio_w,
                               const float *mult, int threads) {
    void *memory = malloc((sizeof(int32_t) + sizeof(float)) * 2 * (size_t)(H + W));
    if (!memory) return -1;
    Taps ty, tx;
    ty.first = memory;
    ty.second = ty.first + H;
    tx.first = ty.second + H;
    tx.second = tx.first + W;
    ty.w_first = (float *)(tx.second + W);
    ty.w_second = ty.w_first + H;
    tx.w_first = ty.w_second + H;
    tx.w_second = tx.w_first + W;
    compute_taps(&ty, H, h, ratio_h);
    compute_taps(&tx, W, w, ratio_w);
    UpsampleRow row = upsample_row_base;
#if HAVE_V4
    if (CPU_HAS_V4()) row = upsample_row_v4;
#endif
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        float *blended = malloc(sizeof(float) * (size_t)w);
        failed = blended == NULL;
#pragma omp for collapse(3) schedule(static)
        for (int64_t b = 0; b < n; b++) {
            for (int64_t ch = 0; ch < c; ch++) {
                for (int64_t y = 0; y < H; y++) {
                    if (failed) continue;
                    const float *plane = low + (b * c + ch) * h * w;
                    const float *base_plane = base_planes ? base_planes[b * c + ch] : NULL;
                    const float *base_row = base_plane ? base_plane + y * W : NULL;
                    row(plane + ty.first[y] * w, plane + ty.second[y] * w, ty.w_first[y], ty.w_second[y], blended,
                        w, &tx, mult[ch], base_row, out + ((b * c + ch) * H + y) * W, W);
                }
            }
        }
        free(blended);
    }
    free(memory);
    return failed ? -1 : 0;
}

/* ---- channels-last: PReLU on bfloat16, and packing the blocks' inputs -------------------------------------- */

INLINE float bf16_to_float(uint16_t bits) {
    union { uint32_t u; float f; } v = {.u = (uint32_t)bits << 16};
    return v.f;
}

/* round to nearest even, NaN stays a quiet NaN: c10::BFloat16's conversion, bit for bit */
INLINE uint16_t float_to_bf16(float value) {
    union { float f; uint32_t u; } v = {.f = value};
    uint16_t rounded = (uint16_t)((v.u + 0x7FFFu + ((v.u >> 16) & 1u)) >> 16);
    return value != value ? (uint16_t)0x7FC0 : rounded;
}

/* x[i] = x[i] > 0 ? x[i] : slopes[i % span] * x[i] for `count` values, where `slopes` holds the c slopes
 * repeated (span = c, or PRELU_TILE * c): over whole tiles of pixels the loop vectorises for any c (per
 * pixel, a width like 60 left a scalar tail on every pixel: 5x slower). */
enum { PRELU_TILE = 16, PRELU_CHUNK = 1024 /* pixels per task, a multiple of PRELU_TILE */ };

/* The values per pass of the per-channel loops: one pixel when c is a whole number of 16-float vectors (a
 * loop per pixel was measured faster then), else PRELU_TILE pixels. */
static int64_t channel_span(int64_t c) { return c % 16 == 0 ? c : PRELU_TILE * c; }

INLINE void prelu_span(uint16_t *restrict x, const float *restrict slopes, int64_t count, int64_t span) {
    for (int64_t start = 0; start < count; start += span) {
        const int64_t n = count - start < span ? count - start : span;
        uint16_t *restrict px = x + start;
        for (int64_t i = 0; i < n; i++) {
            const float value = bf16_to_float(px[i]);
            px[i] = value > 0.0f ? px[i] : float_to_bf16(value * slopes[i]);
        }
    }
}

typedef void (*PreluSpan)(uint16_t *, const float *, int64_t, int64_t);

#if HAVE_V4
TARGET_V4 static void prelu_span_v4(uint16_t *x, const float *slopes, int64_t count, int64_t span) {
    prelu_span(x, slopes, count, span);
}
#endif

static void prelu_span_base(uint16_t *x, const float *slopes, int64_t count, int64_t span) {
    prelu_span(x, slopes, count, span);
}

/*
 * In place: x = x > 0 ? x : slope[ch] * x, for x bfloat16 in channels-last order (pixels x c), with
 * `slopes` the c per-channel slopes repeated PRELU_TILE times (vsrife_prelu_tile() values in all).
 * The result of torch.nn.functional.prelu on the same tensor, bit for bit.
 */
int64_t vsrife_prelu_tile(void) { return PRELU_TILE; }

void vsrife_prelu_bf16_channels_last(uint16_t *x, const float *slopes, int64_t pixels, int64_t c, int threads) {
    PreluSpan run = prelu_span_base;
#if HAVE_V4
    if (CPU_HAS_V4()) run = prelu_span_v4;
#endif
    const int64_t span = channel_span(c);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t start = 0; start < pixels; start += PRELU_CHUNK) {
        const int64_t count = pixels - start < PRELU_CHUNK ? pixels - start : PRELU_CHUNK;
        run(x + start * c, slopes, count * c, span);
    }
}

/* y = leaky_relu(y * gain + x, slope), rounding to bfloat16 after each step as PyTorch's three passes do
 * (v4.5+'s ResConv); `gains` holds the c per-channel gains repeated, as for prelu_span. */
INLINE void residual_span(uint16_t *restrict y, const uint16_t *restrict x, const float *restrict gains, int64_t count,
                          int64_t span, float slope) {
    for (int64_t start = 0; start < count; start += span) {
        const int64_t n = count - start < span ? count - start : span;
        uint16_t *restrict py = y + start;
        const uint16_t *restrict px = x + start;
        for (int64_t i = 0; i < n; i++) {
            const float scaled = bf16_to_float(float_to_bf16(bf16_to_float(py[i]) * gains[i]));
            const uint16_t sum = float_to_bf16(scaled + bf16_to_float(px[i]));
            const float value = bf16_to_float(sum);
            py[i] = value > 0.0f ? sum : float_to_bf16(value * slope);
        }
    }
}

typedef void (*ResidualSpan)(uint16_t *, const uint16_t *, const float *, int64_t, int64_t, float);

#if HAVE_V4
TARGET_V4 static void residual_span_v4(uint16_t *y, const uint16_t *x, const float *gains, int64_t count, int64_t span,
                                       float slope) {
    residual_span(y, x, gains, count, span, slope);
}
#endif

static void residual_span_base(uint16_t *y, const uint16_t *x, const float *gains, int64_t count, int64_t span,
                               float slope) {
    residual_span(y, x, gains, count, span, slope);
}

/*
 * In place: y = leaky_relu(y * gain[ch] + x, slope), y and x bfloat16 channels-last (pixels x c), `gains`
 * the c gains repeated PRELU_TILE times. torch's `leaky_relu(y * gain + x)` on the same tensors, bit for bit.
 */
void vsrife_residual_leaky_bf16_channels_last(uint16_t *y, const uint16_t *x, const float *gains, int64_t pixels,
                                              int64_t c, float slope, int threads) {
    ResidualSpan run = residual_span_base;
#if HAVE_V4
    if (CPU_HAS_V4()) run = residual_span_v4;
#endif
    const int64_t span = channel_span(c);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t start = 0; start < pixels; start += PRELU_CHUNK) {
        const int64_t count = pixels - start < PRELU_CHUNK ? pixels - start : PRELU_CHUNK;
        run(y + start * c, x + start * c, gains, count * c, span, slope);
    }
}

/* Per tile of pixels: each channel copied into a planar buffer (vectorised), then the buffer written out
 * pixel by pixel, so that the stores run along the output: storing each channel with a stride of c was
 * 1.5x slower, and tiles of 64 pixels instead of 128 made each plane's reads too short to stream well
 * (4.22's 36 channels at 736x1280, bfloat16 output: 23.6 -> 13.8 -> 10.4-11.8 ms). */
INLINE void pack_row(const float *const *restrict planes, int64_t c, int64_t offset, int64_t w, float *restrict out,
                     int64_t stride) {
    enum { BUFFER = 8192, MAX_TILE = 128 };
    float tile[BUFFER];
    const int64_t pixels = c * MAX_TILE <= BUFFER ? MAX_TILE : (BUFFER / c > 0 ? BUFFER / c : 1);
    for (int64_t start = 0; start < w; start += pixels) {
        const int64_t count = w - start < pixels ? w - start : pixels;
        for (int64_t ch = 0; ch < c; ch++) {
            const float *restrict src = planes[ch] + offset + start;
            float *restrict row = tile + ch * pixels;
            for (int64_t x = 0; x < count; x++) row[x] = src[x];
        }
        float *restrict dst = out + start * stride;
        for (int64_t x = 0; x < count; x++)
            for (int64_t ch = 0; ch < c; ch++) dst[x * stride + ch] = tile[ch * pixels + x];
    }
}

typedef void (*PackRow)(const float *const *, int64_t, int64_t, int64_t, float *, int64_t);

#if HAVE_V4
TARGET_V4 static void pack_row_v4(const float *const *planes, int64_t c, int64_t offset, int64_t w, float *out,
                                  int64_t stride) {
    pack_row(planes, c, offset, w, out, stride);
}
#endif

static void pack_row_base(const float *const *planes, int64_t c, int64_t offset, int64_t w, float *out,
                          int64_t stride) {
    pack_row(planes, c, offset, w, out, stride);
}

/*
 * out (h x w pixels, `stride` floats apart, the first c of each written) = the c float32 planes (h x w each,
 * anywhere in memory) interleaved: torch.cat(planes, 1).contiguous(memory_format=torch.channels_last) for one
 * image, in one pass (stride c), or written into channels of a wider channels-last image (stride its channels).
 */
void vsrife_pack_channels_last(const float *const *planes, int64_t c, int64_t h, int64_t w, float *out,
                               int64_t stride, int threads) {
    PackRow row = pack_row_base;
#if HAVE_V4
    if (CPU_HAS_V4()) row = pack_row_v4;
#endif
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t y = 0; y < h; y++) row(planes, c, y * w, w, out + y * w * stride, stride);
}

INLINE void shuffle_row(const uint16_t *restrict in, int64_t c, int64_t w, int64_t i, float *restrict out,
                        int64_t plane) {
    for (int64_t ch = 0; ch < c; ch++) {
        const uint16_t *restrict src = in + 4 * ch + 2 * i;
        float *restrict dst = out + ch * plane;
        for (int64_t x = 0; x < w; x++) {
            dst[2 * x] = bf16_to_float(src[x * 4 * c]);
            dst[2 * x + 1] = bf16_to_float(src[x * 4 * c + 1]);
        }
    }
}

typedef void (*ShuffleRow)(const uint16_t *, int64_t, int64_t, int64_t, float *, int64_t);

#if HAVE_V4
TARGET_V4 static void shuffle_row_v4(const uint16_t *in, int64_t c, int64_t w, int64_t i, float *out, int64_t plane) {
    shuffle_row(in, c, w, i, out, plane);
}
#endif

static void shuffle_row_base(const uint16_t *in, int64_t c, int64_t w, int64_t i, float *out, int64_t plane) {
    shuffle_row(in, c, w, i, out, plane);
}

/*
 * out (c planes of 2h x 2w, float32) = pixel_shuffle(x, 2) widened to float32, for x (h x w x 4c, bfloat16,
 * channels-last): out[ch][2y + i][2x + j] = x[y][x][4 ch + 2 i + j]. Exact (bfloat16 widens without rounding).
 */
void vsrife_pixel_shuffle_bf16_to_float(const uint16_t *x, int64_t c, int64_t h, int64_t w, float *out,
                                        int threads) {
    ShuffleRow row = shuffle_row_base;
#if HAVE_V4
    if (CPU_HAS_V4()) row = shuffle_row_v4;
#endif
    const int64_t plane = 4 * h * w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < 2 * h; r++) row(x + (r / 2) * w * 4 * c, c, w, r % 2, out + r * 2 * w, plane);
}

/* ---- backward warping from channels-last sources, down-sampled on the way ---------------------------------- */

typedef float v4f __attribute__((vector_size(16)));

/* One sampling point of grid_sample (bilinear, padding_mode="border", align_corners=True): the pixel indices of
 * its four neighbours and its weights. The grid is base + flow, so the point is (x + fx, y + fy) in pixels. */
typedef struct {
    int32_t *i00, *i01, *i10, *i11;
    float *wx, *wy;
} Points;

INLINE void sample_points(Points p, int64_t count, int64_t step, int64_t x_offset, int64_t y, const float *restrict fx,
                          const float *restrict fy, int64_t H, int64_t W) {
    const float xmax = (float)(W - 1), ymax = (float)(H - 1), row = (float)y;
    const int32_t width = (int32_t)W, height = (int32_t)H;
    for (int64_t j = 0; j < count; j++) {
        const int64_t x = j * step + x_offset;
        float ix = (float)x + fx[x], iy = row + fy[x];
        ix = ix > 0.0f ? ix : 0.0f; /* border padding: clamp the sampling point into the frame */
        ix = ix < xmax ? ix : xmax;
        iy = iy > 0.0f ? iy : 0.0f;
        iy = iy < ymax ? iy : ymax;
        int32_t x0 = (int32_t)ix, y0 = (int32_t)iy;
        int32_t x1 = x0 + (x0 < width - 1), y1 = y0 + (y0 < height - 1);
        p.wx[j] = ix - (float)x0;
        p.wy[j] = iy - (float)y0;
        p.i00[j] = y0 * width + x0;
        p.i01[j] = y0 * width + x1;
        p.i10[j] = y1 * width + x0;
        p.i11[j] = y1 * width + x1;
    }
}

INLINE v4f sample(const v4f *restrict px, int64_t groups, const Points *restrict p, int64_t j) {
    const v4f a = px[p->i00[j] * groups], b = px[p->i01[j] * groups];
    const v4f c = px[p->i10[j] * groups], d = px[p->i11[j] * groups];
    const v4f top = a + (b - a) * p->wx[j];
    const v4f bottom = c + (d - c) * p->wx[j];
    return top + (bottom - top) * p->wy[j];
}

/* `sets` sets of `count` sampling points in one block of memory (the caller frees it); NULL if out of memory */
static void *alloc_points(Points *points, int64_t sets, int64_t count) {
    void *memory = malloc((4 * sizeof(int32_t) + 2 * sizeof(float)) * (size_t)(sets * count));
    if (memory == NULL) return NULL;
    for (int64_t k = 0; k < sets; k++) {
        int32_t *ints = (int32_t *)memory + k * 4 * count;
        float *floats = (float *)((int32_t *)memory + sets * 4 * count) + k * 2 * count;
        points[k] = (Points){ints, ints + count, ints + 2 * count, ints + 3 * count, floats, floats + count};
    }
    return memory;
}

typedef void (*PointsFn)(Points, int64_t, int64_t, int64_t, int64_t, const float *, const float *, int64_t, int64_t);

static void sample_points_base(Points p, int64_t count, int64_t step, int64_t x_offset, int64_t y, const float *fx,
                               const float *fy, int64_t H, int64_t W) {
    sample_points(p, count, step, x_offset, y, fx, fy, H, W);
}

#if HAVE_V4
/* sample_points for x86-64-v4, 16 points at a time (GCC does not vectorise the scalar loop): the same
 * arithmetic, so the same indices and weights. The flow is read contiguously for step 1, else gathered. */
TARGET_V4 static void sample_points_v4(Points p, int64_t count, int64_t step, int64_t x_offset, int64_t y,
                                       const float *restrict fx, const float *restrict fy, int64_t H, int64_t W) {
    const __m512 xmax = _mm512_set1_ps((float)(W - 1)), ymax = _mm512_set1_ps((float)(H - 1));
    const __m512 row = _mm512_set1_ps((float)y), zero = _mm512_setzero_ps();
    const __m512i width = _mm512_set1_epi32((int32_t)W), last_x = _mm512_set1_epi32((int32_t)W - 1);
    const __m512i last_y = _mm512_set1_epi32((int32_t)H - 1), one = _mm512_set1_epi32(1);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i lane_offsets = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int32_t)step));
    for (int64_t j = 0; j < count; j += 16) {
        const __mmask16 m = count - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - j)) - 1);
        /* the full-size columns of points j .. j + 15 */
        const __m512i xs = _mm512_add_epi32(_mm512_set1_epi32((int32_t)(j * step + x_offset)), lane_offsets);
        __m512 flow_x, flow_y;
        if (step == 1) {
            flow_x = _mm512_maskz_loadu_ps(m, fx + j + x_offset);
            flow_y = _mm512_maskz_loadu_ps(m, fy + j + x_offset);
        } else {
            flow_x = _mm512_mask_i32gather_ps(zero, m, xs, fx, 4);
            flow_y = _mm512_mask_i32gather_ps(zero, m, xs, fy, 4);
        }
        /* max/min return the second operand for NaN: a NaN point clamps to 0 as the scalar code's does */
        __m512 ix = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(_mm512_cvtepi32_ps(xs), flow_x), zero), xmax);
        __m512 iy = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(row, flow_y), zero), ymax);
        const __m512i x0 = _mm512_cvttps_epi32(ix), y0 = _mm512_cvttps_epi32(iy);
        const __m512i x1 = _mm512_mask_add_epi32(x0, _mm512_cmplt_epi32_mask(x0, last_x), x0, one);
        const __m512i y1 = _mm512_mask_add_epi32(y0, _mm512_cmplt_epi32_mask(y0, last_y), y0, one);
        const __m512i r0 = _mm512_mullo_epi32(y0, width), r1 = _mm512_mullo_epi32(y1, width);
        _mm512_mask_storeu_ps(p.wx + j, m, _mm512_sub_ps(ix, _mm512_cvtepi32_ps(x0)));
        _mm512_mask_storeu_ps(p.wy + j, m, _mm512_sub_ps(iy, _mm512_cvtepi32_ps(y0)));
        _mm512_mask_storeu_epi32(p.i00 + j, m, _mm512_add_epi32(r0, x0));
        _mm512_mask_storeu_epi32(p.i01 + j, m, _mm512_add_epi32(r0, x1));
        _mm512_mask_storeu_epi32(p.i10 + j, m, _mm512_add_epi32(r1, x0));
        _mm512_mask_storeu_epi32(p.i11 + j, m, _mm512_add_epi32(r1, x1));
    }
}
#endif

/* The first `lanes` (1 to 4) values of v to o, o + stride, ... Unrolled on purpose: GCC turns the loop into a
 * call to memcpy when the stride is 1, which cost more than the warp itself (a 12-byte copy per pixel). */
INLINE void store_lanes(float *restrict o, int64_t stride, v4f v, int64_t lanes) {
    o[0] = v[0];
    if (lanes > 1) o[stride] = v[1];
    if (lanes > 2) o[2 * stride] = v[2];
    if (lanes > 3) o[3 * stride] = v[3];
}

/* Everything one thread needs for one output row: the sampling points (one set, or four for down-sampling) */
typedef struct {
    Points points[4];
    int64_t count; /* sets in use */
} RowPoints;

INLINE void warp_sources_row(const float *const *restrict images, const int64_t *restrict groups,
                             const int64_t *restrict channels, int64_t sources, const RowPoints *restrict rp,
                             int64_t w, float *const *restrict out, int64_t y, int64_t cs, int64_t ps) {
    for (int64_t s = 0; s < sources; s++) {
        const int64_t gs = groups[s], c = channels[s];
        for (int64_t g = 0; g < gs; g++) {
            const v4f *restrict px = (const v4f *)images[s] + g;
            const int64_t lanes = c - g * 4 < 4 ? c - g * 4 : 4;
            float *restrict o = out[s] + g * 4 * cs + y * w * ps;
            if (rp->count == 1) {
                for (int64_t x = 0; x < w; x++) {
                    store_lanes(o + x * ps, cs, sample(px, gs, &rp->points[0], x), lanes);
                }
            } else { /* bilinear down-sampling by a power of two: rows 0.5 / 0.5 of columns 0.5 / 0.5 */
                for (int64_t x = 0; x < w; x++) {
                    const v4f top = sample(px, gs, &rp->points[0], x) * 0.5f + sample(px, gs, &rp->points[1], x) * 0.5f;
                    const v4f bottom =
                        sample(px, gs, &rp->points[2], x) * 0.5f + sample(px, gs, &rp->points[3], x) * 0.5f;
                    store_lanes(o + x * ps, cs, top * 0.5f + bottom * 0.5f, lanes);
                }
            }
        }
    }
}

typedef void (*WarpRow)(const float *const *, const int64_t *, const int64_t *, int64_t, const RowPoints *, int64_t,
                        float *const *, int64_t, int64_t, int64_t);

#if HAVE_V4
TARGET_V4 static void warp_sources_row_v4(const float *const *images, const int64_t *groups, const int64_t *channels,
                                          int64_t sources, const RowPoints *rp, int64_t w, float *const *out,
                                          int64_t y, int64_t cs, int64_t ps) {
    warp_sources_row(images, groups, channels, sources, rp, w, out, y, cs, ps);
}
#endif

static void warp_sources_row_base(const float *const *images, const int64_t *groups, const int64_t *channels,
                                  int64_t sources, const RowPoints *rp, int64_t w, float *const *out, int64_t y,
                                  int64_t cs, int64_t ps) {
    warp_sources_row(images, groups, channels, sources, rp, w, out, y, cs, ps);
}

/*
 * Warp sources by a flow and down-sample the results, in one pass:
 *   out[k] = resize(grid_sample(images[k], base + flow[side k]), 1 / down)
 * images[k]: H x W x (4 * groups[k]) float32, channels-last, 16-byte aligned, the first channels[k] used.
 * side[k]: 0 warps by flow[0:2] (towards frame 0), 1 by flow[2:4]. flow: 4 x H x W, pixels.
 * out[k]: where source k's first channel of its first pixel goes; channel c of pixel (y, x) of the
 * (H / down) x (W / down) result at out[k] + c * cs + (y * (W / down) + x) * ps: planes one after the other
 * (cs = the plane's size, ps = 1), or channels of a channels-last image (cs = 1, ps = its channels).
 * down: 1, or a power of two: bilinear down-sampling (align_corners=False) then averages the 2 x 2 full-size
 * pixels at rows and columns down * i + down / 2 - 1 and down * i + down / 2, so only those are warped.
 * At most MAX_SOURCES sources. Returns 0, or -1 if memory ran out.
 */
enum { MAX_SOURCES = 16 };

int vsrife_warp_sources(const float *const *images, const int64_t *groups, const int64_t *channels,
                        const int64_t *sides, int64_t sources, const float *flow, int64_t H, int64_t W, int64_t down,
                        float *const *out, int64_t cs, int64_t ps, int threads) {
    WarpRow row = warp_sources_row_base;
    PointsFn points = sample_points_base;
#if HAVE_V4
    if (CPU_HAS_V4()) {
        row = warp_sources_row_v4;
        points = sample_points_v4;
    }
#endif
    const int64_t h = H / down, w = W / down, full = H * W;
    const int64_t sets = down == 1 ? 1 : 4, low = down == 1 ? 0 : down / 2 - 1;
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        RowPoints rp = {.count = sets};
        void *memory = alloc_points(rp.points, sets, w);
        failed = memory == NULL;
        /* Rows, not sides, are split between threads: the sides' results may share an output row (channels of
         * one channels-last image), and two threads writing one cache line in turn slowed the writes 2x. */
#pragma omp for schedule(static)
        for (int64_t y = 0; y < h; y++) {
            for (int64_t side = 0; side < 2; side++) {
                if (failed) continue;
                const float *fx = flow + 2 * side * full, *fy = fx + full;
                for (int64_t k = 0; k < sets; k++) {
                    const int64_t row_full = down * y + low + (k >> 1), col = low + (k & 1);
                    points(rp.points[k], w, down, col, row_full, fx + row_full * W, fy + row_full * W, H, W);
                }
                const float *side_images[MAX_SOURCES];
                float *side_out[MAX_SOURCES];
                int64_t side_groups[MAX_SOURCES], side_channels[MAX_SOURCES], count = 0;
                for (int64_t k = 0; k < sources; k++) {
                    if (sides[k] != side) continue;
                    side_images[count] = images[k];
                    side_groups[count] = groups[k];
                    side_channels[count] = channels[k];
                    side_out[count++] = out[k];
                }
                row(side_images, side_groups, side_channels, count, &rp, w, side_out, y, cs, ps);
            }
        }
        free(memory);
    }
    return failed ? -1 : 0;
}

/* ---- the result: both frames warped and blended by the mask, in one pass -------------------------------------- */

INLINE void warp_blend_row(const v4f *restrict px0, const v4f *restrict px1, const Points *restrict p0,
                           const Points *restrict p1, const float *restrict alpha, int64_t w, int64_t channels,
                           float *restrict out, int64_t plane) {
    for (int64_t x = 0; x < w; x++) {
        const float a = alpha[x];
        const v4f value = sample(px0, 1, p0, x) * a + sample(px1, 1, p1, x) * (1.0f - a);
        for (int64_t lane = 0; lane < channels; lane++) out[lane * plane + x] = value[lane];
    }
}

typedef void (*BlendRow)(const v4f *, const v4f *, const Points *, const Points *, const float *, int64_t, int64_t,
                         float *, int64_t);

#if HAVE_V4
TARGET_V4 static void warp_blend_row_v4(const v4f *px0, const v4f *px1, const Points *p0, const Points *p1,
                                        const float *alpha, int64_t w, int64_t channels, float *out, int64_t plane) {
    warp_blend_row(px0, px1, p0, p1, alpha, w, channels, out, plane);
}
#endif

static void warp_blend_row_base(const v4f *px0, const v4f *px1, const Points *p0, const Points *p1,
                                const float *alpha, int64_t w, int64_t channels, float *out, int64_t plane) {
    warp_blend_row(px0, px1, p0, p1, alpha, w, channels, out, plane);
}

/*
 * out (channels planes of H x W) = warp(image0, flow[0:2]) * alpha + warp(image1, flow[2:4]) * (1 - alpha):
 * the frame of every version without a refinement network, without storing the two warped frames.
 * image0, image1: H x W x 4 float32, channels-last, 16-byte aligned (warp_layout of frames of 1-4 channels);
 * flow: 4 x H x W, pixels; alpha: H x W (the mask's sigmoid). Returns 0, or -1 if memory ran out.
 */
int vsrife_warp_blend(const float *image0, const float *image1, const float *flow, const float *alpha, int64_t H,
                      int64_t W, int64_t channels, float *out, int threads) {
    BlendRow row = warp_blend_row_base;
    PointsFn points = sample_points_base;
#if HAVE_V4
    if (CPU_HAS_V4()) {
        row = warp_blend_row_v4;
        points = sample_points_v4;
    }
#endif
    const int64_t full = H * W;
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        Points side[2];
        void *memory = alloc_points(side, 2, W);
        failed = memory == NULL;
#pragma omp for schedule(static)
        for (int64_t y = 0; y < H; y++) {
            if (failed) continue;
            for (int64_t k = 0; k < 2; k++) {
                const float *fx = flow + 2 * k * full + y * W;
                points(side[k], W, 1, 0, y, fx, fx + full, H, W);
            }
            row((const v4f *)image0, (const v4f *)image1, &side[0], &side[1], alpha + y * W, W, channels,
                out + y * W, full);
        }
        free(memory);
    }
    return failed ? -1 : 0;
}

/* ---- uint8 activations of the int8 path: quantize, with the activation before it fused ---------------------- */

/* These loops are built three times: x86-64-v4, x86-64-v3 (AVX2 and FMA, which most CPUs without AVX-512
 * have: the int8 path is for them too) and the baseline. VARIANTS(f, params, args) defines f_v4, f_v3 and
 * f_base calling the inline f; PICK(f) is the one this CPU runs. */
#if HAVE_V4
#define VARIANTS(f, params, args)                  \
    TARGET_V4 static void f##_v4 params { f args; } \
    TARGET_V3 static void f##_v3 params { f args; } \
    static void f##_base params { f args; }
#define PICK(f) (CPU_HAS_V4() ? f##_v4 : CPU_HAS_V3() ? f##_v3 : f##_base)
#else
#define VARIANTS(f, params, args) \
    static void f##_base params { f args; }
#define PICK(f) f##_base
#endif

/* round(v * inv_scale + zero_point) clamped to [0, top], rounding half to even (torch.round): adding and
 * removing 1.5 * 2^23 leaves a float in [0, 2^22) rounded to an integer by the FPU's own rounding. */
INLINE int32_t quantize_code(float v, float inv_scale, float zero_point, float top) {
    float t = v * inv_scale + zero_point;
    t = t < 0.0f ? 0.0f : (t > top ? top : t);
    return (int32_t)((t + 12582912.0f) - 12582912.0f);
}

INLINE uint8_t quantize_one(float v, float inv_scale, float zero_point, float top) {
    return (uint8_t)quantize_code(v, inv_scale, zero_point, top);
}

INLINE void quantize_span(const float *restrict x, uint8_t *restrict q, int64_t count, float inv_scale,
                          float zero_point, float top) {
    for (int64_t i = 0; i < count; i++) q[i] = quantize_one(x[i], inv_scale, zero_point, top);
}

VARIANTS(quantize_span, (const float *x, uint8_t *q, int64_t count, float inv_scale, float zero_point, float top),
         (x, q, count, inv_scale, zero_point, top))

enum { QUANT_CHUNK = 16384 /* values per task */ };

/*
 * q = clamp(round(x * inv_scale + zero_point), 0, top) for `count` float32 values (any layout: q has x's).
 * top is 255, or 127 on CPUs whose int8 convolutions would overflow with 8-bit activations.
 */
void vsrife_quantize_u8(const float *x, uint8_t *q, int64_t count, float inv_scale, float zero_point, float top,
                        int threads) {
    void (*run)(const float *, uint8_t *, int64_t, float, float, float) = PICK(quantize_span);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t start = 0; start < count; start += QUANT_CHUNK) {
        const int64_t n = count - start < QUANT_CHUNK ? count - start : QUANT_CHUNK;
        run(x + start, q + start, n, inv_scale, zero_point, top);
    }
}

/* q = quantize(prelu(x)) with slopes[i % span]; or, without q, x = prelu(x) in place (the last layer of a
 * chain, whose float output is the chain's). Two loops, so that each vectorises. */
INLINE void prelu_quantize_span(float *restrict x, const float *restrict slopes, int64_t count, int64_t span,
                                uint8_t *restrict q, float inv_scale, float zero_point, float top) {
    for (int64_t start = 0; start < count; start += span) {
        const int64_t n = count - start < span ? count - start : span;
        float *restrict px = x + start;
        if (q) {
            uint8_t *restrict pq = q + start;
            for (int64_t i = 0; i < n; i++)
                pq[i] = quantize_one(px[i] > 0.0f ? px[i] : px[i] * slopes[i], inv_scale, zero_point, top);
        } else {
            for (int64_t i = 0; i < n; i++) px[i] = px[i] > 0.0f ? px[i] : px[i] * slopes[i];
        }
    }
}

VARIANTS(prelu_quantize_span,
         (float *x, const float *slopes, int64_t count, int64_t span, uint8_t *q, float inv_scale, float zero_point,
          float top),
         (x, slopes, count, span, q, inv_scale, zero_point, top))

/*
 * For x (pixels x c, float32, channels-last: a convolution's output) and `slopes` its c per-channel slopes
 * repeated PRELU_TILE times (a LeakyReLU is a PReLU with one slope): q = the next layer's uint8 input,
 * quantize(prelu(x)); or, with q NULL, x = prelu(x) in place.
 */
void vsrife_prelu_quantize_u8(float *x, const float *slopes, int64_t pixels, int64_t c, uint8_t *q, float inv_scale,
                              float zero_point, float top, int threads) {
    void (*run)(float *, const float *, int64_t, int64_t, uint8_t *, float, float, float) =
        PICK(prelu_quantize_span);
    const int64_t span = channel_span(c);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t start = 0; start < pixels; start += PRELU_CHUNK) {
        const int64_t count = pixels - start < PRELU_CHUNK ? pixels - start : PRELU_CHUNK;
        run(x + start * c, slopes, count * c, span, q ? q + start * c : NULL, inv_scale, zero_point, top);
    }
}

/* The two planes of a wide activation: r = quantize(prelu(x)) with top = 2^(2 bits) - 1, then high = r >> bits
 * and low = r & (2^bits - 1), so that r = high * 2^bits + low. Without slopes, no PReLU (a chain's input). */
INLINE void quantize_planes_span(const float *restrict x, const float *restrict slopes, int64_t count, int64_t span,
                                 uint8_t *restrict high, uint8_t *restrict low, float inv_scale, float zero_point,
                                 float top, int bits) {
    const int32_t mask = (1 << bits) - 1;
    for (int64_t start = 0; start < count; start += span) {
        const int64_t n = count - start < span ? count - start : span;
        const float *restrict px = x + start;
        uint8_t *restrict ph = high + start, *restrict pl = low + start;
        for (int64_t i = 0; i < n; i++) {
            const float v = slopes && px[i] < 0.0f ? px[i] * slopes[i] : px[i];
            const int32_t r = quantize_code(v, inv_scale, zero_point, top);
            ph[i] = (uint8_t)(r >> bits);
            pl[i] = (uint8_t)(r & mask);
        }
    }
}

VARIANTS(quantize_planes_span,
         (const float *x, const float *slopes, int64_t count, int64_t span, uint8_t *high, uint8_t *low,
          float inv_scale, float zero_point, float top, int bits),
         (x, slopes, count, span, high, low, inv_scale, zero_point, top, bits))

/*
 * For x (pixels x c, float32, channels-last) and `slopes` its c per-channel slopes repeated PRELU_TILE times, or
 * NULL (no activation): the wide quantization of the next layer's input as two planes in x's layout (see
 * quantize_planes_span). top is 65535 with bits 8, or 16383 with bits 7 on CPUs without VNNI.
 */
void vsrife_quantize_planes(const float *x, const float *slopes, int64_t pixels, int64_t c, uint8_t *high,
                            uint8_t *low, float inv_scale, float zero_point, float top, int bits, int threads) {
    void (*run)(const float *, const float *, int64_t, int64_t, uint8_t *, uint8_t *, float, float, float, int) =
        PICK(quantize_planes_span);
    const int64_t span = slopes ? channel_span(c) : PRELU_CHUNK * c;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t start = 0; start < pixels; start += PRELU_CHUNK) {
        const int64_t count = pixels - start < PRELU_CHUNK ? pixels - start : PRELU_CHUNK;
        run(x + start * c, slopes, count * c, span, high + start * c, low + start * c, inv_scale, zero_point, top,
            bits);
    }
}

/* The smallest and largest of x (PReLU'd by slopes, if given), for the quantization of the next layer's input:
 * activations change their range from frame to frame too much for fixed scales (measured: docs/performance.md).
 * Written with vectors of eight floats: GCC does not vectorise a min/max reduction of floats on its own
 * without -ffinite-math-only, which would break the NaN checks elsewhere in this file. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

INLINE v8f select8(v8i mask, v8f yes, v8f no) { return (v8f)(((v8i)yes & mask) | ((v8i)no & ~mask)); }

INLINE void range_span(const float *restrict x, const float *restrict slopes, int64_t count, int64_t span,
                       float *restrict lo, float *restrict hi) {
    v8f low = {0}, high = {0};
    for (int k = 0; k < 8; k++) low[k] = *lo, high[k] = *hi;
    const v8f zero = {0};
    for (int64_t start = 0; start < count; start += span) {
        const int64_t n = count - start < span ? count - start : span;
        const float *restrict px = x + start;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            v8f v;
            memcpy(&v, px + i, sizeof v);
            if (slopes) {
                v8f slope;
                memcpy(&slope, slopes + i, sizeof slope);
                v = select8(v > zero, v, v * slope);
            }
            low = select8(v < low, v, low);
            high = select8(v > high, v, high);
        }
        for (; i < n; i++) {
            const float v = slopes && px[i] < 0.0f ? px[i] * slopes[i] : px[i];
            low[0] = v < low[0] ? v : low[0];
            high[0] = v > high[0] ? v : high[0];
        }
    }
    for (int k = 0; k < 8; k++) {
        *lo = low[k] < *lo ? low[k] : *lo;
        *hi = high[k] > *hi ? high[k] : *hi;
    }
}

VARIANTS(range_span, (const float *x, const float *slopes, int64_t count, int64_t span, float *lo, float *hi),
         (x, slopes, count, span, lo, hi))

/*
 * lo_hi[0], lo_hi[1] = min and max of x (pixels x c, float32, channels-last), after PReLU with `slopes` (c
 * slopes repeated PRELU_TILE times) unless slopes is NULL (then any layout).
 */
void vsrife_range_f32(const float *x, const float *slopes, int64_t pixels, int64_t c, float *lo_hi, int threads) {
    void (*run)(const float *, const float *, int64_t, int64_t, float *, float *) = PICK(range_span);
    const int64_t span = channel_span(c);
    float lo = x[0] < 0.0f && slopes ? x[0] * slopes[0] : x[0], hi = lo;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : lo) reduction(max : hi)
    for (int64_t start = 0; start < pixels; start += PRELU_CHUNK) {
        const int64_t count = pixels - start < PRELU_CHUNK ? pixels - start : PRELU_CHUNK;
        run(x + start * c, slopes, count * c, span, &lo, &hi);
    }
    lo_hi[0] = lo;
    lo_hi[1] = hi;
}

INLINE void residual_span_f32(float *restrict x, const float *restrict y, int64_t count, float slope,
                              float *restrict lo, float *restrict hi) {
    for (int64_t i = 0; i < count; i++) {
        const float sum = y[i] + x[i];
        x[i] = sum > 0.0f ? sum : sum * slope;
    }
    range_span(x, NULL, count, count, lo, hi);  /* again over x, still in cache */
}

VARIANTS(residual_span_f32, (float *x, const float *y, int64_t count, float slope, float *lo, float *hi),
         (x, y, count, slope, lo, hi))

/*
 * v4.5+'s ResConv tail on float32: x = leaky_relu(y + x, slope) in place (y: the convolution with its gain
 * folded in; x and y in one layout), and lo_hi = the result's min and max (for the next unit's quantization).
 */
void vsrife_residual_leaky_f32(float *x, const float *y, int64_t count, float slope, float *lo_hi, int threads) {
    void (*run)(float *, const float *, int64_t, float, float *, float *) = PICK(residual_span_f32);
    float lo = 3.4e38f, hi = -3.4e38f;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : lo) reduction(max : hi)
    for (int64_t start = 0; start < count; start += QUANT_CHUNK) {
        const int64_t n = count - start < QUANT_CHUNK ? count - start : QUANT_CHUNK;
        run(x + start, y + start, n, slope, &lo, &hi);
    }
    lo_hi[0] = lo;
    lo_hi[1] = hi;
}
