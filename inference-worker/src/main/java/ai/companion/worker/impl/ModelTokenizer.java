package ai.companion.worker.impl;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The model's {@code tokenizer.json} through the Hugging Face tokenizers library (DJL binding).
 *
 * <p>Special tokens are never added by the tokenizer: {@link #encodeWithBos} adds exactly one BOS itself, so a
 * template post-processor ({@code <s> $A}) cannot add a second one. Truncation and padding are off: a prompt
 * longer than the context must be reported, not silently cut.
 */
public final class ModelTokenizer implements AutoCloseable {
  /** At most this many two-token windows are remembered (a few MB); later ones are decoded each time. */
  static final int MAX_REMEMBERED_PAIRS = 1 << 17;

  private final HuggingFaceTokenizer tokenizer;
  private final int bos;
  // decode is a pure function of the ids, and streaming asks for the same tiny windows over and over (every token:
  // the last two ids, then the last one; see TextStreamer), each a native call that builds a string: remembered
  private final ConcurrentHashMap<Integer, String> singles = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<Long, String> pairs = new ConcurrentHashMap<>();

  private ModelTokenizer(HuggingFaceTokenizer tokenizer, int bos) {
    this.tokenizer = tokenizer;
    this.bos = bos;
  }

  public static ModelTokenizer load(Path tokenizerJson, int bosTokenId) throws IOException {
    HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
        .optTokenizerPath(tokenizerJson)
        .optAddSpecialTokens(false)
        .optTruncation(false)
        .optPadding(false)
        .build();
    return new ModelTokenizer(t, bosTokenId);
  }

  /** The ids of {@code text} without any special token. */
  public int[] encode(String text) {
    if (text.isEmpty()) return new int[0];
    long[] ids = tokenizer.encode(text, false, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
    return out;
  }

  /** BOS followed by the ids of {@code text}: llama2.c's encode(text, bos=1, eos=0). "" gives just BOS. */
  public int[] encodeWithBos(String text) {
    int[] body = encode(text);
    int[] out = new int[body.length + 1];
    out[0] = bos;
    System.arraycopy(body, 0, out, 1, body.length);
    return out;
  }

  /** Decodes {@code ids[from, to)}, skipping special tokens (the decoder's Strip drops one leading space). */
  public String decode(int[] ids, int from, int to) {
    if (to - from == 1) {
      String s = singles.get(ids[from]);
      if (s == null) {
        s = decodeNative(ids, from, to);
        singles.put(ids[from], s);
      }
      return s;
    }
    if (to - from == 2) {
      long key = ((long) ids[from] << 32) | (ids[from + 1] & 0xffffffffL);
      String s = pairs.get(key);
      if (s == null) {
        s = decodeNative(ids, from, to);
        if (pairs.size() < MAX_REMEMBERED_PAIRS) pairs.put(key, s);
      }
      return s;
    }
    return decodeNative(ids, from, to);
  }

  // package-private for the test that checks the remembered windows against it
  String decodeNative(int[] ids, int from, int to) {
    long[] l = new long[to - from];
    for (int i = from; i < to; i++) l[i - from] = ids[i];
    return tokenizer.decode(l, true);
  }

  @Override public void close() {
    tokenizer.close();
  }
}
