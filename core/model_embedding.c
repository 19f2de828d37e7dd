/* core/model_embedding.c - the input embedding of a segment (docs/MODEL.md "Embeddings"),
 * forward and backward: token embedding, the puzzle-embedding prefix rows and the
 * learned positions where the config has them, scaled as the published model scales them. */
#include "model_internal.h"

static hrm_embedding_args embedding_args(const hrm_model *m, int B, hrm_ptr tokens, hrm_ptr puzzle_ids) {
    return (hrm_embedding_args){.batch = B,
                                .seq_len = m->seq_len,
                                .prefix = m->P,
                                .dim = m->D,
                                .vocab = m->V,
                                .num_puzzle_ids = m->cfg.num_puzzle_identifiers,
                                .puzzle_width = m->P > 0 ? m->cfg.puzzle_emb_ndim : 0,
                                .scale = m->embed_scale,
                                .tokens = tokens,
                                .puzzle_ids = puzzle_ids,
                                .token_table = param_at(m, m->off_embed),
                                .puzzle_table = m->P > 0 ? param_at(m, m->off_puzzle) : (hrm_ptr){0},
                                .pos = m->off_pos >= 0 ? param_at(m, m->off_pos) : (hrm_ptr){0}};
}

hrm_status embed_forward(hrm_model *m, int B, hrm_ptr tokens, hrm_ptr puzzle_ids) {
    hrm_embedding_args a = embedding_args(m, B, tokens, puzzle_ids);
    a.out = m->x;
    TRY(op_embedding_forward(&m->ops, &a, "embedding_forward"));
    return HRM_OK;
}

hrm_status embed_backward(hrm_model *m, int B) {
    hrm_embedding_args a = embedding_args(m, B, m->train_tokens, m->train_puzzle_ids);
    a.d_out = m->d_h;
    a.d_token_table = grad_at(m, m->off_embed);
    a.d_puzzle_rows = m->d_puzzle_rows;
    a.d_pos = m->off_pos >= 0 ? grad_at(m, m->off_pos) : (hrm_ptr){0};
    TRY(op_embedding_backward(&m->ops, &a, "embedding_backward"));
    return HRM_OK;
}
