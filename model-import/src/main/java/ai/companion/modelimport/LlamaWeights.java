package ai.companion.modelimport;

import java.io.IOException;

/**
 * The weights of a Llama decoder in llama2.c's layout: matrices row-major as (out, in), one array per
 * tensor and layer. Implementations may produce tensors lazily; each is asked for once.
 */
public interface LlamaWeights {

  /** The tensors of a Llama decoder, with llama2.c's names. */
  enum Tensor {
    TOKEN_EMBEDDING, RMS_ATT, WQ, WK, WV, WO, RMS_FFN, W1, W2, W3, RMS_FINAL, WCLS;

    /** True for tensors that exist once per layer. */
    public boolean perLayer() {
      return this != TOKEN_EMBEDDING && this != RMS_FINAL && this != WCLS;
    }

    /** Number of floats for the given config. */
    public long size(LlamaConfig c) {
      long dim = c.dim();
      return switch (this) {
        case TOKEN_EMBEDDING, WCLS -> (long) c.vocabSize() * dim;
        case RMS_ATT, RMS_FFN, RMS_FINAL -> dim;
        case WQ, WO -> dim * dim;
        case WK, WV -> dim * c.kvDim();
        case W1, W2, W3 -> dim * c.hiddenDim();
      };
    }
  }

  LlamaConfig config();

  /**
   * One tensor; {@code layer} is ignored for tensors that are not per layer. {@link Tensor#WCLS} is
   * only asked for when the classifier is not shared.
   */
  float[] tensor(Tensor tensor, int layer) throws IOException;
}
