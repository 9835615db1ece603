package ai.companion.modelimport;

/**
 * Sizes of a Llama-architecture decoder, as llama2.c's header and Hugging Face's config.json name them.
 *
 * @param sharedClassifier the output projection is the token embedding (tied weights)
 */
public record LlamaConfig(
    int dim,
    int hiddenDim,
    int nLayers,
    int nHeads,
    int nKvHeads,
    int vocabSize,
    int seqLen,
    boolean sharedClassifier,
    float normEps,
    float ropeTheta) {

  public static final float DEFAULT_NORM_EPS = 1e-5f;
  public static final float DEFAULT_ROPE_THETA = 10000f;

  public LlamaConfig {
    if (dim < 1 || hiddenDim < 1 || nLayers < 1 || nHeads < 1 || nKvHeads < 1 || vocabSize < 1
        || seqLen < 1) {
      throw new IllegalArgumentException("sizes must be positive: " + describe(dim, hiddenDim,
          nLayers, nHeads, nKvHeads, vocabSize, seqLen));
    }
    if (dim % nHeads != 0) {
      throw new IllegalArgumentException("dim " + dim + " is not a multiple of n_heads " + nHeads);
    }
    if (nHeads % nKvHeads != 0) {
      throw new IllegalArgumentException(
          "n_heads " + nHeads + " is not a multiple of n_kv_heads " + nKvHeads);
    }
    if ((dim / nHeads) % 2 != 0) {
      throw new IllegalArgumentException("head size " + dim / nHeads + " is odd (RoPE needs pairs)");
    }
  }

  public static LlamaConfig of(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads,
      int vocabSize, int seqLen, boolean sharedClassifier) {
    return new LlamaConfig(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen,
        sharedClassifier, DEFAULT_NORM_EPS, DEFAULT_ROPE_THETA);
  }

  public int headDim() {
    return dim / nHeads;
  }

  /** Query heads per KV head. */
  public int groupSize() {
    return nHeads / nKvHeads;
  }

  public int kvDim() {
    return nKvHeads * headDim();
  }

  /** Parameters of the decoder (the shared classifier counted once). */
  public long parameterCount() {
    long perLayer = 2L * dim + (long) dim * dim * 2 + 2L * dim * kvDim() + 3L * dim * hiddenDim;
    return (long) vocabSize * dim * (sharedClassifier ? 1 : 2) + nLayers * perLayer + dim;
  }

  static String describe(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads,
      int vocabSize, int seqLen) {
    return "dim " + dim + ", hidden_dim " + hiddenDim + ", n_layers " + nLayers + ", n_heads "
        + nHeads + ", n_kv_heads " + nKvHeads + ", vocab_size " + vocabSize + ", seq_len " + seqLen;
  }

  @Override
  public String toString() {
    return describe(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen)
        + (sharedClassifier ? ", shared classifier" : "");
  }
}
