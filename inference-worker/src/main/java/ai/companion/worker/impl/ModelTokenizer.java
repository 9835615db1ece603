package ai.companion.worker.impl;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The model's {@code tokenizer.json} through the Hugging Face tokenizers library (DJL binding).
 *
 * <p>Special tokens are never added by the tokenizer: {@link #encodeWithBos} adds exactly one BOS itself, so a
 * template post-processor ({@code <s> $A}) cannot add a second one. Truncation and padding are off: a prompt
 * longer than the context must be reported, not silently cut.
 */
public final class ModelTokenizer implements AutoCloseable {
  /** Slots for remembered one-token windows: direct-mapped by the id, so any vocabulary up to this size fits. */
  static final int SINGLE_SLOTS = 1 << 16;
  /** Slots for remembered two-token windows (a few MB at most); a pair that finds both its slots taken replaces one. */
  static final int PAIR_SLOTS = 1 << 17;

  private final HuggingFaceTokenizer tokenizer;
  private final int bos;
  // decode is a pure function of the ids, and streaming asks for the same tiny windows over and over (every token:
  // the last two ids, then the last one; see TextStreamer), each a native call that builds a string: remembered in
  // tables of immutable entries (a slot by the id, or by the pair's mixed bits), which decode threads read and fill
  // without locks (an entry is read whole or not at all) and without a boxed key per token. (A ConcurrentHashMap
  // keyed by the two ids as a Long hashed every pair of a 512-token vocabulary into 512 bins, which it turned into
  // trees that it searched by reflection.)
  private record Window(long key, String text) {}
  private final Window[] singles = new Window[SINGLE_SLOTS];
  private final Window[] pairs = new Window[PAIR_SLOTS];

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
    if (to - from == 1) return remembered(singles, ids[from], ids[from] & (SINGLE_SLOTS - 1), ids, from, to);
    if (to - from == 2) {
      long key = ((long) ids[from] << 32) | (ids[from + 1] & 0xffffffffL);
      return remembered(pairs, key, mixedSlot(key, PAIR_SLOTS), ids, from, to);
    }
    return decodeNative(ids, from, to);
  }

  /** Two slots a key (its own and its neighbour): two windows that meet in one slot do not evict each other. */
  private String remembered(Window[] table, long key, int slot, int[] ids, int from, int to) {
    Window w = table[slot];
    if (w != null && w.key == key) return w.text;
    Window v = table[slot ^ 1];
    if (v != null && v.key == key) return v.text;
    String text = decodeNative(ids, from, to);
    table[w == null || v != null ? slot : slot ^ 1] = new Window(key, text);
    return text;
  }

  /** A slot of a power-of-two table: the key's bits mixed (Stafford's mix 13), so that near ids spread. */
  private static int mixedSlot(long key, int slots) {
    long z = key;
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    z = z ^ (z >>> 31);
    return (int) z & (slots - 1);
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
