package ai.companion.modelimport.impl;

import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_ATT;
import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_FFN;
import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_FINAL;
import static ai.companion.modelimport.LlamaWeights.Tensor.TOKEN_EMBEDDING;
import static ai.companion.modelimport.LlamaWeights.Tensor.W1;
import static ai.companion.modelimport.LlamaWeights.Tensor.W2;
import static ai.companion.modelimport.LlamaWeights.Tensor.W3;
import static ai.companion.modelimport.LlamaWeights.Tensor.WCLS;
import static ai.companion.modelimport.LlamaWeights.Tensor.WK;
import static ai.companion.modelimport.LlamaWeights.Tensor.WO;
import static ai.companion.modelimport.LlamaWeights.Tensor.WQ;
import static ai.companion.modelimport.LlamaWeights.Tensor.WV;
import static ai.companion.modelimport.onnx.Onnx.TensorProto.DataType.BOOL;
import static ai.companion.modelimport.onnx.Onnx.TensorProto.DataType.FLOAT;
import static ai.companion.modelimport.onnx.Onnx.TensorProto.DataType.INT32;
import static ai.companion.modelimport.onnx.Onnx.TensorProto.DataType.INT64;

import ai.companion.modelimport.LlamaConfig;
import ai.companion.modelimport.LlamaWeights;
import java.io.IOException;

/**
 * Builds a Hugging Face-style Llama decoder (the optimum / transformers.js contract) from llama2.c
 * weights:
 *
 * <pre>
 * in : input_ids, attention_mask, position_ids [int64], past_key_values.N.key|value [B, kv, P, d]
 * out: logits [B, S, vocab], present.N.key|value [B, kv, P+S, d]
 * </pre>
 *
 * Per layer: one fused QKV MatMul, RoPE on the adjacent pairs of llama2.c as {@code x*cos + (x@R)*sin}
 * with a fixed signed permutation R (so the stored weights keep llama2.c's order), grouped-query
 * attention by broadcasting [B, kv, group, S, d] against [B, kv, 1, T, d], the causal and padding mask
 * computed once, a fused gate/up MatMul. The 1/sqrt(d) attention scale is folded into wq. RMSNorm is
 * written in the shape ONNX Runtime fuses into SimplifiedLayerNormalization. Projection weights are
 * stored [in, out].
 *
 * <p>{@link #buildInPlace} writes the same decoder for ONNX Runtime's own use, with the key/value cache updated in
 * place (its {@code GroupQueryAttention} contrib operator), RoPE by its {@code RotaryEmbedding} from cos/sin
 * tables, and each residual Add with the RMSNorm after it as one {@code SkipSimplifiedLayerNormalization}:
 *
 * <pre>
 * in : input_ids, position_ids [int64, B x S], seqlens_k [int32, B] (each row's total length - 1),
 *      total_sequence_length [int32, 1], past_key_values.N.key|value [B, kv, M, d]
 * out: logits [B, S, vocab], present.N.key|value [B, kv, M, d], the same buffers as the past
 * </pre>
 *
 * Row r's cache holds its tokens at positions 0 .. seqlens_k[r] of a buffer M long, right-padded; a step writes
 * the new keys and values after them. Nothing is concatenated: with the standard graph every step copies the whole
 * cache into new presents, which at SmolLM2-135M's shape, 16 rows and 1500 tokens was half the step's time.
 */
public final class LlamaGraph {
  private final GraphBuilder g;
  private final LlamaConfig c;
  private final LlamaWeights w;

  private final boolean inPlace;
  // standard graph: [B, S, 1, d] computed from position_ids; in-place graph: tables [seq_len, d / 2]
  private String cos;
  private String sin;
  private String mask;
  private String rot;
  private String negMax;
  private String eps;
  private String two;

  private LlamaGraph(GraphBuilder g, LlamaWeights w, boolean inPlace) {
    this.g = g;
    this.c = w.config();
    this.w = w;
    this.inPlace = inPlace;
  }

  /** Adds the whole decoder (inputs, outputs, nodes, weights) to the builder. */
  public static void build(GraphBuilder g, LlamaWeights weights) throws IOException {
    new LlamaGraph(g, weights, false).build();
  }

  /** Adds the decoder with the in-place cache (see the class comment) to the builder. */
  public static void buildInPlace(GraphBuilder g, LlamaWeights weights) throws IOException {
    new LlamaGraph(g, weights, true).build();
  }

  /** Initializer name of a per-layer weight, for tools that rewrite the graph (quantizer). */
  public static String weightName(int layer, String what) {
    return "model.layers." + layer + "." + what;
  }

  private void build() throws IOException {
    int kv = c.nKvHeads();
    int d = c.headDim();
    g.input("input_ids", INT64, "batch_size", "sequence_length");
    if (inPlace) {
      g.input("seqlens_k", INT32, "batch_size");
      g.input("total_sequence_length", INT32, 1L);
    } else {
      g.input("attention_mask", INT64, "batch_size", "total_sequence_length");
    }
    g.input("position_ids", INT64, "batch_size", "sequence_length");
    String pastLen = inPlace ? "max_sequence_length" : "past_sequence_length";
    String presentLen = inPlace ? "max_sequence_length" : "total_sequence_length";
    for (int l = 0; l < c.nLayers(); l++) {
      g.input("past_key_values." + l + ".key", FLOAT, "batch_size", (long) kv, pastLen, (long) d);
      g.input("past_key_values." + l + ".value", FLOAT, "batch_size", (long) kv, pastLen, (long) d);
    }
    g.output("logits", FLOAT, "batch_size", "sequence_length", (long) c.vocabSize());
    for (int l = 0; l < c.nLayers(); l++) {
      g.output("present." + l + ".key", FLOAT, "batch_size", (long) kv, presentLen, (long) d);
      g.output("present." + l + ".value", FLOAT, "batch_size", (long) kv, presentLen, (long) d);
    }

    eps = g.scalarFloat(c.normEps());
    two = g.scalarFloat(2f);

    String embedding = g.floats("model.embed_tokens.weight", w.tensor(TOKEN_EMBEDDING, 0),
        c.vocabSize(), c.dim());
    String x = g.op("Gather", "inputs_embeds", embedding, "input_ids");
    if (inPlace) rotaryCaches();
    else rotary();
    if (!inPlace) attentionMask();

    int dim = c.dim();
    String normed = rmsNorm(x, g.floats("model.layers.0.input_layernorm.weight", w.tensor(RMS_ATT, 0), dim),
        "model.layers.0.input_layernorm");
    for (int l = 0; l < c.nLayers(); l++) {
      String p = "model.layers." + l + ".";
      String[] attn = residualNorm(x, attention(l, normed), p + "attn_residual",
          g.floats(p + "post_attention_layernorm.weight", w.tensor(RMS_FFN, l), dim), p + "post_attention_layernorm");
      boolean last = l == c.nLayers() - 1;
      String next = last ? "model.norm" : "model.layers." + (l + 1) + ".input_layernorm";
      String[] mlp = residualNorm(attn[0], mlp(l, attn[1]), p + "mlp_residual",
          g.floats(next + ".weight", last ? w.tensor(RMS_FINAL, 0) : w.tensor(RMS_ATT, l + 1), dim), next);
      x = mlp[0];
      normed = mlp[1];
    }
    String classifier;
    if (c.sharedClassifier()) {
      classifier = g.node("Transpose", new String[] {"lm_head.weight_t"}, embedding)
          .attr("perm", new long[] {1, 0}).out();
    } else {
      classifier = g.floats("lm_head.weight", transpose(w.tensor(WCLS, 0), c.vocabSize(), c.dim()),
          c.dim(), c.vocabSize());
    }
    g.op("MatMul", "logits", normed, classifier);
  }

  /** cos and sin of position * inv_freq, each [B, S, 1, d], pairs (2i, 2i+1) sharing a frequency. */
  private void rotary() throws IOException {
    int d = c.headDim();
    float[] invFreq = new float[d];
    for (int j = 0; j < d; j++) invFreq[j] = (float) (1.0 / wavelengthScale(j / 2));
    String inv = g.floats("rotary.inv_freq", invFreq, d);
    String pos = g.node("Cast", new String[] {"rotary.positions"}, "position_ids")
        .attr("to", (long) FLOAT.getNumber()).out();
    String pos3 = g.op("Unsqueeze", "rotary.positions_3d", pos, g.constInts(2));
    String freqs = g.op("Mul", "rotary.freqs", pos3, inv);
    cos = g.op("Unsqueeze", "rotary.cos", g.op("Cos", null, freqs), g.constInts(2));
    sin = g.op("Unsqueeze", "rotary.sin", g.op("Sin", null, freqs), g.constInts(2));
    // (x @ rot)[2i] = -x[2i+1], (x @ rot)[2i+1] = x[2i]
    float[] r = new float[d * d];
    for (int i = 0; i < d; i += 2) {
      r[(i + 1) * d + i] = -1f;
      r[i * d + i + 1] = 1f;
    }
    rot = g.floats("rotary.rotate_pairs", r, d, d);
  }

  /**
   * For the in-place graph: cos and sin of position * inv_freq as tables [seq_len, d / 2] (one entry per pair) for
   * ONNX Runtime's {@code RotaryEmbedding}, which looks each row's positions up in them. Computed here in double
   * and stored as floats, where {@link #rotary} computes them in the graph in float.
   */
  private void rotaryCaches() throws IOException {
    int d = c.headDim();
    int half = d / 2;
    float[] cosTable = new float[c.seqLen() * half];
    float[] sinTable = new float[c.seqLen() * half];
    for (int pos = 0; pos < c.seqLen(); pos++) {
      for (int i = 0; i < half; i++) {
        double angle = pos / wavelengthScale(i);
        cosTable[pos * half + i] = (float) Math.cos(angle);
        sinTable[pos * half + i] = (float) Math.sin(angle);
      }
    }
    cos = g.floats("rotary.cos_cache", cosTable, c.seqLen(), half);
    sin = g.floats("rotary.sin_cache", sinTable, c.seqLen(), half);
  }

  /**
   * theta^(2i / d) for the rotary pair i (dimensions 2i and 2i+1 of a head): its angle at a position is position /
   * this (llama2.c: freq = 1 / theta^(head_dim / head_size), head_dim the even index of the pair).
   */
  private double wavelengthScale(int pair) {
    return Math.pow(c.ropeTheta(), 2.0 * pair / c.headDim());
  }

  /**
   * Boolean [B, 1, 1, S, T]: key j is visible to query i when j <= (T - S) + i and the attention mask
   * is 1 at j.
   */
  private void attentionMask() throws IOException {
    negMax = g.scalarFloat(-Float.MAX_VALUE);
    String s = g.node("Shape", new String[] {"mask.seq_len"}, "input_ids")
        .attr("start", 1L).attr("end", 2L).out();
    String t = g.node("Shape", new String[] {"mask.total_len"}, "attention_mask")
        .attr("start", 1L).attr("end", 2L).out();
    String sScalar = g.op("Squeeze", "mask.seq_len_scalar", s);
    String tScalar = g.op("Squeeze", "mask.total_len_scalar", t);
    String past = g.op("Sub", "mask.past_len", tScalar, sScalar);
    String one = g.scalarInt(1);
    String queryPos = g.op("Range", "mask.query_pos", past, tScalar, one);
    String keyPos = g.op("Range", "mask.key_pos", g.scalarInt(0), tScalar, one);
    String causal = g.op("LessOrEqual", "mask.causal",
        g.op("Unsqueeze", "mask.key_row", keyPos, g.constInts(0)),
        g.op("Unsqueeze", "mask.query_col", queryPos, g.constInts(1)));
    String padding = g.node("Cast", new String[] {"mask.padding"}, "attention_mask")
        .attr("to", (long) BOOL.getNumber()).out();
    String padding5 = g.op("Unsqueeze", "mask.padding_5d", padding, g.constInts(1, 2, 3));
    mask = g.op("And", "mask.visible", causal, padding5);
  }

  /** Attention of layer l on the normed input: the o projection's output [B, S, dim], before the residual. */
  private String attention(int l, String hIn) throws IOException {
    int dim = c.dim();
    int d = c.headDim();
    int h = c.nHeads();
    int kv = c.nKvHeads();
    String p = "model.layers." + l + ".";
    String qkvW = g.floats(weightName(l, "self_attn.qkv_proj.weight"), qkvWeight(l), dim,
        (long) (h + 2 * kv) * d);
    String qkv = g.op("MatMul", p + "qkv", hIn, qkvW);
    String ctx3 = inPlace ? inPlaceAttention(l, qkv) : concatAttention(l, qkv);
    String oW = g.floats(weightName(l, "self_attn.o_proj.weight"),
        transpose(w.tensor(WO, l), dim, h * d), (long) h * d, dim);
    return g.op("MatMul", p + "attn_out", ctx3, oW);
  }

  /** The SwiGLU feed-forward of layer l on the normed input: the down projection's output, before the residual. */
  private String mlp(int l, String hFfn) throws IOException {
    int dim = c.dim();
    String p = "model.layers." + l + ".";
    int hidden = c.hiddenDim();
    String gateUpW = g.floats(weightName(l, "mlp.gate_up_proj.weight"),
        concatColumns(dim, transpose(w.tensor(W1, l), hidden, dim), hidden,
            transpose(w.tensor(W3, l), hidden, dim), hidden), dim, 2L * hidden);
    String[] gateUp = g.node("Split", new String[] {p + "gate", p + "up"},
        g.op("MatMul", p + "gate_up", hFfn, gateUpW)).attr("axis", -1L).outputs;
    String silu = g.op("Mul", p + "silu", gateUp[0], g.op("Sigmoid", p + "gate_sigmoid", gateUp[0]));
    String act = g.op("Mul", p + "act", silu, gateUp[1]);
    String downW = g.floats(weightName(l, "mlp.down_proj.weight"),
        transpose(w.tensor(W2, l), dim, hidden), hidden, dim);
    return g.op("MatMul", p + "mlp_out", act, downW);
  }

  /**
   * The residual sum x + delta and its RMSNorm with {@code weight}: {sum, normed}. The in-place graph writes both as
   * one {@code SkipSimplifiedLayerNormalization} (its fourth output is the sum), which ONNX Runtime's optimizer did
   * not make from Add + norm on the CPU provider (op profile of the step bench); the standard graph keeps the Add
   * and the pattern ONNX Runtime fuses into SimplifiedLayerNormalization.
   */
  private String[] residualNorm(String x, String delta, String sumName, String weight, String normPrefix) {
    if (!inPlace) {
      String sum = g.op("Add", sumName, x, delta);
      return new String[] {sum, rmsNorm(sum, weight, normPrefix)};
    }
    String[] out = g.msNode("SkipSimplifiedLayerNormalization",
            new String[] {normPrefix + ".out", "", "", sumName}, x, delta, weight)
        .attr("epsilon", c.normEps()).outputs;
    return new String[] {out[3], out[0]};
  }

  /**
   * Attention over the past concatenated with this step's keys and values (the presents are new tensors), from the
   * fused qkv [B, S, (h + 2 kv) d]: split into heads, q and k rotated as x*cos + (x@R)*sin; returns the context
   * [B, S, h * d].
   */
  private String concatAttention(int l, String qkv) throws IOException {
    int d = c.headDim();
    int h = c.nHeads();
    int kv = c.nKvHeads();
    int group = c.groupSize();
    String p = "model.layers." + l + ".";
    String qkv4 = g.op("Reshape", p + "qkv_heads", qkv, g.constInts(0, 0, h + 2 * kv, d));
    String[] qkAndV = g.node("Split", new String[] {p + "qk", p + "v"}, qkv4,
        g.constInts(h + kv, kv)).attr("axis", 2L).outputs;
    String qk = qkAndV[0];
    String qkRot = g.op("Add", p + "qk_rope",
        g.op("Mul", p + "qk_cos", qk, cos),
        g.op("Mul", p + "qk_sin", g.op("MatMul", p + "qk_rotated", qk, rot), sin));
    String[] qAndK = g.node("Split", new String[] {p + "q", p + "k"}, qkRot, g.constInts(h, kv))
        .attr("axis", 2L).outputs;
    String k = transpose(qAndK[1], p + "k_t", 0, 2, 1, 3);
    String v = transpose(qkAndV[1], p + "v_t", 0, 2, 1, 3);
    String presentK = g.node("Concat", new String[] {"present." + l + ".key"},
        "past_key_values." + l + ".key", k).attr("axis", 2L).out();
    String presentV = g.node("Concat", new String[] {"present." + l + ".value"},
        "past_key_values." + l + ".value", v).attr("axis", 2L).out();

    // q [B, S, kv, group, d] -> [B, kv, group, S, d]; keys [B, kv, 1, d, T]
    String q5 = transpose(g.op("Reshape", p + "q_groups", qAndK[0], g.constInts(0, 0, kv, group, d)),
        p + "q_t", 0, 2, 3, 1, 4);
    String keys = transpose(g.op("Unsqueeze", p + "k_5d", presentK, g.constInts(2)), p + "k_tt",
        0, 1, 2, 4, 3);
    String scores = g.op("MatMul", p + "scores", q5, keys);
    String masked = g.op("Where", p + "scores_masked", mask, scores, negMax);
    String probs = g.node("Softmax", new String[] {p + "probs"}, masked).attr("axis", -1L).out();
    String values = g.op("Unsqueeze", p + "v_5d", presentV, g.constInts(2));
    String ctx = g.op("MatMul", p + "context", probs, values);
    return g.op("Reshape", p + "context_flat",
        transpose(ctx, p + "context_t", 0, 3, 1, 2, 4), g.constInts(0, 0, h * d));
  }

  /**
   * Attention by {@code GroupQueryAttention}, which writes this step's keys and values into the past buffers at
   * each row's length and attends to positions 0 .. seqlens_k (causally within the step). The fused qkv [B, S,
   * (h + 2 kv) d] is split along its last axis and q and k are rotated by {@code RotaryEmbedding} (interleaved:
   * llama2.c's adjacent pairs, at each row's {@code position_ids}), all in the flat [B, S, heads * d] layout GQA
   * takes: five nodes a layer, where the reshapes, splits and the Mul/MatMul/Add rotation of {@link
   * #concatAttention} take twelve, and on a model this small each node's fixed cost is most of a step. The 1/sqrt(d)
   * scale is already in wq, so scale is 1. Returns the context [B, S, h * d].
   */
  private String inPlaceAttention(int l, String qkv) throws IOException {
    int d = c.headDim();
    int h = c.nHeads();
    int kv = c.nKvHeads();
    String p = "model.layers." + l + ".";
    String[] qkvSplit = g.node("Split", new String[] {p + "q", p + "k", p + "v"}, qkv,
        g.constInts((long) h * d, (long) kv * d, (long) kv * d)).attr("axis", -1L).outputs;
    String q = g.msNode("RotaryEmbedding", new String[] {p + "q_rope"}, qkvSplit[0], "position_ids", cos, sin)
        .attr("interleaved", 1L).out();
    String k = g.msNode("RotaryEmbedding", new String[] {p + "k_rope"}, qkvSplit[1], "position_ids", cos, sin)
        .attr("interleaved", 1L).out();
    return g.msNode("GroupQueryAttention",
            new String[] {p + "context_flat", "present." + l + ".key", "present." + l + ".value"},
            q, k, qkvSplit[2], "past_key_values." + l + ".key", "past_key_values." + l + ".value", "seqlens_k",
            "total_sequence_length")
        .attr("num_heads", (long) h).attr("kv_num_heads", (long) kv).attr("scale", 1.0f).out();
  }

  /** x / sqrt(mean(x^2) + eps) * weight, the pattern ONNX Runtime fuses. */
  private String rmsNorm(String x, String weight, String p) {
    String sq = g.op("Pow", p + ".sq", x, two);
    String mean = g.node("ReduceMean", new String[] {p + ".mean"}, sq)
        .attr("axes", new long[] {-1}).attr("keepdims", 1L).out();
    String root = g.op("Sqrt", p + ".rms", g.op("Add", p + ".mean_eps", mean, eps));
    return g.op("Mul", p + ".out", g.op("Div", p + ".normed", x, root), weight);
  }

  private String transpose(String in, String out, long... perm) {
    return g.node("Transpose", new String[] {out}, in).attr("perm", perm).out();
  }

  /** [dim, (h + 2 kv) d]: wq (scaled by 1/sqrt(d)), wk, wv side by side, each as [in, out]. */
  private float[] qkvWeight(int l) throws IOException {
    int dim = c.dim();
    int qOut = c.dim();
    int kvOut = c.kvDim();
    float[] q = transpose(w.tensor(WQ, l), qOut, dim);
    float scale = (float) (1.0 / Math.sqrt(c.headDim()));
    for (int i = 0; i < q.length; i++) q[i] *= scale;
    float[] k = transpose(w.tensor(WK, l), kvOut, dim);
    float[] v = transpose(w.tensor(WV, l), kvOut, dim);
    return concatColumns(dim, q, qOut, k, kvOut, v, kvOut);
  }

  /** Row-major [rows, cols] to [cols, rows]. */
  static float[] transpose(float[] m, int rows, int cols) {
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      for (int col = 0; col < cols; col++) t[col * rows + r] = m[base + col];
    }
    return t;
  }

  /** Matrices with the same row count side by side: args alternate (float[] matrix, int cols). */
  static float[] concatColumns(int rows, Object... parts) {
    int total = 0;
    for (int i = 0; i < parts.length; i += 2) total += (Integer) parts[i + 1];
    float[] out = new float[rows * total];
    int offset = 0;
    for (int i = 0; i < parts.length; i += 2) {
      float[] m = (float[]) parts[i];
      int cols = (Integer) parts[i + 1];
      for (int r = 0; r < rows; r++) System.arraycopy(m, r * cols, out, r * total + offset, cols);
      offset += cols;
    }
    return out;
  }
}
