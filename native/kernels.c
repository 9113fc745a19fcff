/*
 * Fused CPU kernels for the fast path of vsrife's IFNet (see vsrife/arch/kernels.py, which loads this library
 * with ctypes and checks every argument first).
 *
 * Between two IFBlocks, upstream's PyTorch code makes several full-resolution passes over memory: scale the
 * block's flow, up-sample flow and mask, add both to the running estimate. Here that is one pass, parallel over
 * rows with OpenMP, and written so that GCC vectorises the inner loops. The warp reads frames laid out
 * channels-last in groups of four channels, so that each neighbour is one 16-byte load (a planar version was
 * no faster than grid_sample).
 * Every kernel is built twice, for x86-64-v4 (AVX-512) and for the baseline of the compiler's target, and the
 * public entry points pick one at run time. Layouts and types are stated per function; sizes are int64_t.
 *
 * The arithmetic is upstream's (bilinear weights as torch.nn.functional.interpolate and grid_sample compute
 * them), in a different order, so results differ from the reference path by float rounding only.
 */

#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_V4 1
#define TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define CPU_HAS_V4() (__builtin_cpu_init(), __builtin_cpu_supports("x86-64-v4"))
#else
#define HAVE_V4 0
#endif

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
TARGET_V4 static void upsample_row_v4(const float *top, const float *bottom, float w_top, float w_bottom,
                                      float *blended, int64_t w, const Taps *tx, float mult, const float *base,
                                      float *out, int64_t W) {
    upsample_row(top, bottom, w_top, w_bottom, blended, w, tx, mult, base, out, W);
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

/* ---- bfloat16, channels-last: PReLU and packing the blocks' inputs -------------------------------------------- */

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

INLINE void prelu_row(uint16_t *restrict x, const float *restrict slope, int64_t pixels, int64_t c) {
    for (int64_t p = 0; p < pixels; p++) {
        uint16_t *restrict px = x + p * c;
        for (int64_t ch = 0; ch < c; ch++) {
            float value = bf16_to_float(px[ch]);
            px[ch] = value > 0.0f ? px[ch] : float_to_bf16(value * slope[ch]);
        }
    }
}

typedef void (*PreluRow)(uint16_t *, const float *, int64_t, int64_t);

#if HAVE_V4
TARGET_V4 static void prelu_row_v4(uint16_t *x, const float *slope, int64_t pixels, int64_t c) {
    prelu_row(x, slope, pixels, c);
}
#endif

static void prelu_row_base(uint16_t *x, const float *slope, int64_t pixels, int64_t c) {
    prelu_row(x, slope, pixels, c);
}

/*
 * In place: x = x > 0 ? x : slope[ch] * x, for x bfloat16 in channels-last order (pixels x c).
 * The result of torch.nn.functional.prelu on the same tensor, bit for bit.
 */
void vsrife_prelu_bf16_channels_last(uint16_t *x, const float *slope, int64_t pixels, int64_t c, int threads) {
    PreluRow row = prelu_row_base;
#if HAVE_V4
    if (CPU_HAS_V4()) row = prelu_row_v4;
#endif
    const int64_t chunk = 1024; /* pixels per task */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t start = 0; start < pixels; start += chunk) {
        row(x + start * c, slope, pixels - start < chunk ? pixels - start : chunk, c);
    }
}

INLINE void pack_row(const float *const *restrict planes, int64_t c, int64_t offset, int64_t w,
                     uint16_t *restrict out) {
    enum { TILE = 64 };
    uint16_t tile[TILE];
    for (int64_t start = 0; start < w; start += TILE) {
        const int64_t count = w - start < TILE ? w - start : TILE;
        for (int64_t ch = 0; ch < c; ch++) {
            const float *restrict src = planes[ch] + offset + start;
            for (int64_t x = 0; x < count; x++) tile[x] = float_to_bf16(src[x]); /* vectorised */
            uint16_t *restrict dst = out + start * c + ch;
            for (int64_t x = 0; x < count; x++) dst[x * c] = tile[x];
        }
    }
}

typedef void (*PackRow)(const float *const *, int64_t, int64_t, int64_t, uint16_t *);

#if HAVE_V4
TARGET_V4 static void pack_row_v4(const float *const *planes, int64_t c, int64_t offset, int64_t w, uint16_t *out) {
    pack_row(planes, c, offset, w, out);
}
#endif

static void pack_row_base(const float *const *planes, int64_t c, int64_t offset, int64_t w, uint16_t *out) {
    pack_row(planes, c, offset, w, out);
}

/*
 * out (h x w x c, bfloat16) = the c float32 planes (h x w each, anywhere in memory) interleaved and rounded:
 * torch.cat(planes, 1).to(torch.bfloat16, memory_format=torch.channels_last) for one image, in one pass.
 */
void vsrife_pack_bf16_channels_last(const float *const *planes, int64_t c, int64_t h, int64_t w, uint16_t *out,
                                    int threads) {
    PackRow row = pack_row_base;
#if HAVE_V4
    if (CPU_HAS_V4()) row = pack_row_v4;
#endif
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t y = 0; y < h; y++) row(planes, c, y * w, w, out + y * w * c);
}

/* ---- backward warping from channels-last frames --------------------------------------------------------------- */

typedef float v4f __attribute__((vector_size(16)));

/*
 * One output row of a warp (grid_sample: bilinear, padding_mode="border", align_corners=True; the sampling
 * point is the pixel plus its flow vector). The frame is channels-last with its channels padded to groups of
 * four, so each of the four neighbours is one 16-byte load per group, whatever the number of channels.
 */
INLINE void warp_row(const v4f *restrict image, int64_t groups, int64_t c, int64_t h, int64_t w, int64_t y,
                     const float *restrict fx, const float *restrict fy, float *restrict out, int64_t plane,
                     int32_t *restrict taps, float *restrict weights) {
    const float xmax = (float)(w - 1), ymax = (float)(h - 1), row = (float)y;
    const int32_t width = (int32_t)w, height = (int32_t)h;
    int32_t *restrict i00 = taps, *restrict i01 = taps + w, *restrict i10 = taps + 2 * w, *restrict i11 = taps + 3 * w;
    float *restrict wx = weights, *restrict wy = weights + w;
    for (int32_t x = 0; x < width; x++) {
        float ix = (float)x + fx[x], iy = row + fy[x];
        ix = ix > 0.0f ? ix : 0.0f; /* border padding: clamp the sampling point into the frame */
        ix = ix < xmax ? ix : xmax;
        iy = iy > 0.0f ? iy : 0.0f;
        iy = iy < ymax ? iy : ymax;
        int32_t x0 = (int32_t)ix, y0 = (int32_t)iy;
        int32_t x1 = x0 + (x0 < width - 1), y1 = y0 + (y0 < height - 1);
        wx[x] = ix - (float)x0;
        wy[x] = iy - (float)y0;
        i00[x] = (y0 * width + x0) * (int32_t)groups;
        i01[x] = (y0 * width + x1) * (int32_t)groups;
        i10[x] = (y1 * width + x0) * (int32_t)groups;
        i11[x] = (y1 * width + x1) * (int32_t)groups;
    }
    for (int64_t g = 0; g < groups; g++) {
        const v4f *restrict px = image + g;
        float *restrict o = out + g * 4 * plane + y * w;
        const int64_t lanes = c - g * 4 < 4 ? c - g * 4 : 4;
        for (int64_t x = 0; x < w; x++) {
            v4f top = px[i00[x]] + (px[i01[x]] - px[i00[x]]) * wx[x];
            v4f bottom = px[i10[x]] + (px[i11[x]] - px[i10[x]]) * wx[x];
            v4f value = top + (bottom - top) * wy[x];
            for (int64_t lane = 0; lane < lanes; lane++) o[lane * plane + x] = value[lane];
        }
    }
}

typedef void (*WarpRow)(const v4f *, int64_t, int64_t, int64_t, int64_t, int64_t, const float *, const float *,
                        float *, int64_t, int32_t *, float *);

#if HAVE_V4
TARGET_V4 static void warp_row_v4(const v4f *image, int64_t groups, int64_t c, int64_t h, int64_t w, int64_t y,
                                  const float *fx, const float *fy, float *out, int64_t plane, int32_t *taps,
                                  float *weights) {
    warp_row(image, groups, c, h, w, y, fx, fy, out, plane, taps, weights);
}
#endif

static void warp_row_base(const v4f *image, int64_t groups, int64_t c, int64_t h, int64_t w, int64_t y,
                          const float *fx, const float *fy, float *out, int64_t plane, int32_t *taps,
                          float *weights) {
    warp_row(image, groups, c, h, w, y, fx, fy, out, plane, taps, weights);
}

/*
 * Warp frames 0 by flow[:, 0:2] and frames 1 by flow[:, 2:4] (pixels).
 * frames: 2n x h x w x (4 * groups) float32, 16-byte aligned (the n frames 0, then the n frames 1; channels
 * past c are padding); flow: n x 4 x h x w; out: 2n x c x h x w (planar). Returns 0, or -1 if memory ran out.
 */
int vsrife_warp_pair_channels_last(const float *frames, int64_t groups, const float *flow, float *out, int64_t n,
                                   int64_t c, int64_t h, int64_t w, int threads) {
    WarpRow row = warp_row_base;
#if HAVE_V4
    if (CPU_HAS_V4()) row = warp_row_v4;
#endif
    const int64_t plane = h * w;
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        int32_t *taps = malloc(sizeof(int32_t) * 4 * (size_t)w);
        float *weights = malloc(sizeof(float) * 2 * (size_t)w);
        failed = taps == NULL || weights == NULL;
#pragma omp for collapse(2) schedule(static)
        for (int64_t image = 0; image < 2 * n; image++) {
            for (int64_t y = 0; y < h; y++) {
                if (failed) continue;
                /* images 0..n-1 are frames 0 (flow channels 0, 1), n..2n-1 frames 1 (channels 2, 3) */
                const float *fx = flow + ((image % n) * 4 + (image / n) * 2) * plane + y * w;
                row((const v4f *)(frames + image * plane * groups * 4), groups, c, h, w, y, fx, fx + plane,
                    out + image * c * plane, plane, taps, weights);
            }
        }
        free(taps);
        free(weights);
    }
    return failed ? -1 : 0;
}
