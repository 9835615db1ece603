package ai.companion.modelimport;

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

import java.io.IOException;

/**
 * A plain-Java port of llama2.c run.c's {@code forward} (float32, one token at a time, its own KV
 * cache): the oracle the exported ONNX graph is checked against.
 */
final class ReferenceLlama {
  private final LlamaConfig c;
  private final float[] emb;
  private final float[][] rmsAtt;
  private final float[][] wq;
  private final float[][] wk;
  private final float[][] wv;
  private final float[][] wo;
  private final float[][] rmsFfn;
  private final float[][] w1;
  private final float[][] w2;
  private final float[][] w3;
  private final float[] rmsFinal;
  private final float[] wcls;
  private final float[][] keyCache;
  private final float[][] valueCache;

  ReferenceLlama(LlamaWeights w) throws IOException {
    c = w.config();
    int n = c.nLayers();
    emb = w.tensor(TOKEN_EMBEDDING, 0);
    rmsAtt = new float[n][];
    wq = new float[n][];
    wk = new float[n][];
    wv = new float[n][];
    wo = new float[n][];
    rmsFfn = new float[n][];
    w1 = new float[n][];
    w2 = new float[n][];
    w3 = new float[n][];
    for (int l = 0; l < n; l++) {
      rmsAtt[l] = w.tensor(RMS_ATT, l);
      wq[l] = w.tensor(WQ, l);
      wk[l] = w.tensor(WK, l);
      wv[l] = w.tensor(WV, l);
      wo[l] = w.tensor(WO, l);
      rmsFfn[l] = w.tensor(RMS_FFN, l);
      w1[l] = w.tensor(W1, l);
      w2[l] = w.tensor(W2, l);
      w3[l] = w.tensor(W3, l);
    }
    rmsFinal = w.tensor(RMS_FINAL, 0);
    wcls = c.sharedClassifier() ? emb : w.tensor(WCLS, 0);
    keyCache = new float[n][c.seqLen() * c.kvDim()];
    valueCache = new float[n][c.seqLen() * c.kvDim()];
  }

  static void rmsnorm(float[] o, float[] x, float[] weight) {
    float ss = 0f;
    for (float v : x) ss += v * v;
    ss /= x.length;
    ss += 1e-5f;
    ss = 1.0f / (float) Math.sqrt(ss);
    for (int j = 0; j < x.length; j++) o[j] = weight[j] * (ss * x[j]);
  }

  static void softmax(float[] x, int size) {
    float max = x[0];
    for (int i = 1; i < size; i++) if (x[i] > max) max = x[i];
    float sum = 0f;
    for (int i = 0; i < size; i++) {
      x[i] = (float) Math.exp(x[i] - max);
      sum += x[i];
    }
    for (int i = 0; i < size; i++) x[i] /= sum;
  }

  /** W (d, n) @ x (n) -> xout (d). */
  static void matmul(float[] xout, float[] x, float[] w, int n, int d) {
    for (int i = 0; i < d; i++) {
      float val = 0f;
      for (int j = 0; j < n; j++) val += w[i * n + j] * x[j];
      xout[i] = val;
    }
  }

  /** run.c forward(): logits for {@code token} at {@code pos}. */
  float[] forward(int token, int pos) {
    int dim = c.dim();
    int kvDim = c.kvDim();
    int kvMul = c.groupSize();
    int hidden = c.hiddenDim();
    int hs = c.headDim();
    float[] x = new float[dim];
    System.arraycopy(emb, token * dim, x, 0, dim);
    float[] xb = new float[dim];
    float[] xb2 = new float[dim];
    float[] q = new float[dim];
    float[] k = new float[kvDim];
    float[] v = new float[kvDim];
    float[] hb = new float[hidden];
    float[] hb2 = new float[hidden];
    float[] att = new float[pos + 1];
    for (int l = 0; l < c.nLayers(); l++) {
      rmsnorm(xb, x, rmsAtt[l]);
      matmul(q, xb, wq[l], dim, dim);
      matmul(k, xb, wk[l], dim, kvDim);
      matmul(v, xb, wv[l], dim, kvDim);
      for (int i = 0; i < dim; i += 2) {
        int headDim = i % hs;
        float freq = 1.0f / (float) Math.pow(10000.0f, headDim / (float) hs);
        float val = pos * freq;
        float fcr = (float) Math.cos(val);
        float fci = (float) Math.sin(val);
        int rotn = i < kvDim ? 2 : 1;
        for (int r = 0; r < rotn; r++) {
          float[] vec = r == 0 ? q : k;
          float v0 = vec[i];
          float v1 = vec[i + 1];
          vec[i] = v0 * fcr - v1 * fci;
          vec[i + 1] = v0 * fci + v1 * fcr;
        }
      }
      System.arraycopy(k, 0, keyCache[l], pos * kvDim, kvDim);
      System.arraycopy(v, 0, valueCache[l], pos * kvDim, kvDim);
      for (int h = 0; h < c.nHeads(); h++) {
        int kvOff = (h / kvMul) * hs;
        for (int t = 0; t <= pos; t++) {
          float score = 0f;
          for (int i = 0; i < hs; i++) score += q[h * hs + i] * keyCache[l][t * kvDim + kvOff + i];
          att[t] = score / (float) Math.sqrt(hs);
        }
        softmax(att, pos + 1);
        for (int i = 0; i < hs; i++) xb[h * hs + i] = 0f;
        for (int t = 0; t <= pos; t++) {
          float a = att[t];
          for (int i = 0; i < hs; i++) xb[h * hs + i] += a * valueCache[l][t * kvDim + kvOff + i];
        }
      }
      matmul(xb2, xb, wo[l], dim, dim);
      for (int i = 0; i < dim; i++) x[i] += xb2[i];
      rmsnorm(xb, x, rmsFfn[l]);
      matmul(hb, xb, w1[l], dim, hidden);
      matmul(hb2, xb, w3[l], dim, hidden);
      for (int i = 0; i < hidden; i++) {
        float val = hb[i];
        val *= 1.0f / (1.0f + (float) Math.exp(-val));
        hb[i] = val * hb2[i];
      }
      matmul(xb, hb, w2[l], hidden, dim);
      for (int i = 0; i < dim; i++) x[i] += xb[i];
    }
    rmsnorm(x, x.clone(), rmsFinal);
    float[] logits = new float[c.vocabSize()];
    matmul(logits, x, wcls, dim, c.vocabSize());
    return logits;
  }
}
