/* denoise_wav: denoises a WAV file with the dfn4 C API (plain C99, no other library).
 *
 *   denoise_wav IN.wav OUT.wav [BACKEND [ATTEN_LIM_DB]]
 *
 * IN: 16-bit PCM or 32-bit float, any rate and channel count dfn4 takes. OUT: 32-bit float, same rate
 * and channels, same length, aligned with the input (the reported latency is cut from the start and
 * the tail flushed with silence), so it equals `dfn4 enhance IN OUT --out-format f32`.
 * The file is streamed in blocks of odd, changing sizes, as an audio callback would see them.
 *
 * Build (docs/capi.md):  cc denoise_wav.c $(pkg-config --cflags --libs dfn4) -o denoise_wav
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfn4.h"

/* Frames per dfn4_denoiser_process call, cycled: none a multiple of the model's 480-sample hop but one. */
static const size_t BLOCKS[] = {1, 7, 480, 129, 1021, 2, 4099, 313};
#define NB_BLOCKS (sizeof BLOCKS / sizeof BLOCKS[0])
#define MAX_BLOCK 4099

typedef struct {
    uint16_t format; /* 1 = PCM, 3 = IEEE float */
    uint16_t channels;
    uint32_t rate;
    uint16_t bits;
    uint32_t data_bytes; /* size of the data chunk */
} WavInfo;

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put16(unsigned char *p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }
static void put32(unsigned char *p, uint32_t v) {
    p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = v >> 24;
}

/* Reads the RIFF header up to the start of the data chunk. Returns 0 on success. */
static int read_header(FILE *f, WavInfo *info) {
    unsigned char b[40];
    int have_fmt = 0;
    if (fread(b, 1, 12, f) != 12 || memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4)) {
        fprintf(stderr, "not a RIFF/WAVE file\n");
        return -1;
    }
    for (;;) {
        if (fread(b, 1, 8, f) != 8) {
            fprintf(stderr, "no data chunk\n");
            return -1;
        }
        uint32_t size = le32(b + 4);
        if (!memcmp(b, "fmt ", 4)) {
            if (size < 16 || size > sizeof b || fread(b, 1, size, f) != size) {
                fprintf(stderr, "bad fmt chunk\n");
                return -1;
            }
            info->format = le16(b);
            info->channels = le16(b + 2);
            info->rate = le32(b + 4);
            info->bits = le16(b + 14);
            /* WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes. */
            if (info->format == 0xFFFE && size >= 26) info->format = le16(b + 24);
            have_fmt = 1;
            if (size & 1) fseek(f, 1, SEEK_CUR);
        } else if (!memcmp(b, "data", 4)) {
            if (!have_fmt) {
                fprintf(stderr, "data before fmt\n");
                return -1;
            }
            info->data_bytes = size;
            break;
        } else if (fseek(f, (long)size + (size & 1), SEEK_CUR)) {
            fprintf(stderr, "truncated chunk\n");
            return -1;
        }
    }
    if (!((info->format == 1 && info->bits == 16) || (info->format == 3 && info->bits == 32)) ||
        info->channels == 0) {
        fprintf(stderr, "unsupported WAV: format %u, %u bits, %u channels (16-bit PCM or 32-bit float)\n",
                info->format, info->bits, info->channels);
        return -1;
    }
    return 0;
}

/* A 32-bit float WAV header for `frames` frames (format 3 with a fact chunk, as the spec asks). */
static int write_header(FILE *f, uint16_t channels, uint32_t rate, uint32_t frames) {
    unsigned char h[58];
    uint32_t data_bytes = frames * channels * 4u;
    memcpy(h, "RIFF", 4);
    put32(h + 4, 50 + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 18);
    put16(h + 20, 3);
    put16(h + 22, channels);
    put32(h + 24, rate);
    put32(h + 28, rate * channels * 4u);
    put16(h + 32, (uint16_t)(channels * 4));
    put16(h + 34, 32);
    put16(h + 36, 0);
    memcpy(h + 38, "fact", 4);
    put32(h + 42, 4);
    put32(h + 46, frames);
    memcpy(h + 50, "data", 4);
    put32(h + 54, data_bytes);
    return fwrite(h, 1, sizeof h, f) == sizeof h ? 0 : -1;
}

/* Converts `n` samples of the input format in `raw` to floats. */
static void to_float(const WavInfo *info, const unsigned char *raw, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (info->format == 1) {
            out[i] = (float)(int16_t)le16(raw + 2 * i) / 32768.0f;
        } else {
            uint32_t bits = le32(raw + 4 * i);
            memcpy(&out[i], &bits, 4);
        }
    }
}

static int write_floats(FILE *f, const float *x, size_t n) {
    unsigned char b[4];
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        put32(b, bits);
        if (fwrite(b, 1, 4, f) != 4) return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s IN.wav OUT.wav [BACKEND [ATTEN_LIM_DB]]\n(dfn4 %s)\n", argv[0],
                dfn4_version());
        return 2;
    }
    const char *backend = argc > 3 ? argv[3] : NULL; /* NULL: the library's default */
    int rc = 1;
    FILE *in = NULL, *out = NULL;
    Dfn4Denoiser *dn = NULL;
    unsigned char *raw = NULL;
    float *buf = NULL;
    WavInfo info;

    if (!(in = fopen(argv[1], "rb"))) {
        perror(argv[1]);
        goto done;
    }
    if (read_header(in, &info)) goto done;
    size_t channels = info.channels, bytes_per_sample = info.bits / 8;
    size_t total = info.data_bytes / (bytes_per_sample * channels);

    dn = dfn4_denoiser_create(backend, info.rate, info.channels);
    if (!dn) {
        fprintf(stderr, "%s\n", dfn4_last_error());
        goto done;
    }
    if (argc > 4 && dfn4_denoiser_set_atten_lim_db(dn, strtof(argv[4], NULL)) != DFN4_OK) {
        fprintf(stderr, "%s\n", dfn4_last_error());
        goto done;
    }
    int64_t latency = dfn4_denoiser_latency_samples(dn);
    if (latency < 0) {
        fprintf(stderr, "%s\n", dfn4_last_error());
        goto done;
    }
    fprintf(stderr, "%s: %zu frames, %u Hz, %zu channels; latency %lld frames\n", argv[1], total,
            info.rate, channels, (long long)latency);

    raw = malloc(MAX_BLOCK * channels * bytes_per_sample);
    buf = malloc(MAX_BLOCK * channels * sizeof *buf);
    if (!raw || !buf) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    if (!(out = fopen(argv[2], "wb"))) {
        perror(argv[2]);
        goto done;
    }
    if (write_header(out, info.channels, info.rate, (uint32_t)total)) goto write_error;

    /* Input frames fed, then `latency` frames of silence to flush the tail; the first `latency`
     * frames that come out are the delay and are not written. */
    size_t fed = 0, written = 0, skip = (size_t)latency, block = 0;
    while (written < total) {
        size_t n = BLOCKS[block++ % NB_BLOCKS];
        if (fed < total) {
            if (n > total - fed) n = total - fed;
            if (fread(raw, bytes_per_sample * channels, n, in) != n) {
                fprintf(stderr, "%s: truncated data\n", argv[1]);
                goto done;
            }
            to_float(&info, raw, buf, n * channels);
        } else {
            memset(buf, 0, n * channels * sizeof *buf);
        }
        fed += n;
        /* In place: input and output may be the same buffer. */
        if (dfn4_denoiser_process(dn, buf, buf, n) != DFN4_OK) {
            fprintf(stderr, "%s\n", dfn4_last_error());
            goto done;
        }
        size_t drop = skip < n ? skip : n;
        skip -= drop;
        size_t keep = n - drop;
        if (keep > total - written) keep = total - written;
        if (write_floats(out, buf + drop * channels, keep * channels)) goto write_error;
        written += keep;
    }
    int64_t repaired = dfn4_denoiser_repaired_samples(dn);
    if (repaired > 0) fprintf(stderr, "warning: %lld samples were not audio (repaired)\n", (long long)repaired);
    if (fclose(out)) {
        out = NULL;
        goto write_error;
    }
    out = NULL;
    fprintf(stderr, "wrote %s: %zu frames\n", argv[2], written);
    rc = 0;
    goto done;

write_error:
    perror(argv[2]);
done:
    dfn4_denoiser_destroy(dn); /* NULL-safe */
    free(raw);
    free(buf);
    if (in) fclose(in);
    if (out) fclose(out);
    return rc;
}
