package ai.companion.worker.impl;

import java.util.Arrays;
import java.util.List;

/**
 * Turns generated token ids into stream text, one token at a time.
 *
 * <p>Text is never decoded token by token: the tokenizer's Strip decoder drops the leading space of whatever it
 * decodes, and byte-fallback tokens only make a character together. Instead it decodes a window of the running
 * sequence that starts inside the context (prompt, plus resumed tokens) and emits what the window gained, the way
 * {@code decode(context + generated) - decode(context)} would, without re-decoding everything each token. The
 * window only moves forward after a step that added text, so the decoded window never starts empty (an empty start
 * would let Strip eat the next token's space).
 *
 * <p>Held back: an incomplete UTF-8 character (the decode ends in U+FFFD), and any tail that could still grow
 * into a stop sequence. Text and token ids leave together, cut at token boundaries, so that the ids of every
 * emitted chunk decode to exactly its text; a failover can resume from them. A stop sequence ends the text
 * before its first character.
 */
public final class TextStreamer {

  /** Decodes {@code ids[from, to)} without special tokens. */
  @FunctionalInterface
  public interface Detokenizer {
    String decode(int[] ids, int from, int to);
  }

  /** Text and the token ids it was decoded from. */
  public record Chunk(String text, int[] tokenIds) {
    public static final Chunk EMPTY = new Chunk("", new int[0]);

    public boolean isEmpty() { return text.isEmpty() && tokenIds.length == 0; }
  }

  private static final char REPLACEMENT = '\uFFFD';

  private final Detokenizer detokenizer;
  private final List<String> stops;
  private int[] tokens;
  private int length;
  private int prefixOffset;
  private int readOffset;
  private String prefixText;

  private final StringBuilder text = new StringBuilder();
  private int emittedChars;
  // generated tokens not yet emitted, with the end offset of their text in `text` (-1: not decoded yet)
  private int[] pendingIds = new int[16];
  private int[] pendingEnds = new int[16];
  private int pendingCount;
  private boolean stopped;

  public TextStreamer(Detokenizer detokenizer, int[] context, int capacity, List<String> stops) {
    this.detokenizer = detokenizer;
    this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    this.tokens = Arrays.copyOf(context, Math.max(capacity, context.length + 1));
    this.length = context.length;
    this.prefixOffset = 0;
    this.readOffset = context.length;
    this.prefixText = detokenizer.decode(tokens, prefixOffset, readOffset);
  }

  /** True once a stop sequence was found; the generation should end. */
  public boolean stopped() { return stopped; }

  /** All text decoded so far (emitted or held back), up to a stop sequence once one is found. */
  public String text() { return text.toString(); }

  /** Adds one generated token; returns what may be sent now (possibly {@link Chunk#EMPTY}). */
  public Chunk push(int tokenId) {
    if (stopped) throw new IllegalStateException("stream already stopped");
    if (length == tokens.length) tokens = Arrays.copyOf(tokens, tokens.length * 2);
    tokens[length++] = tokenId;
    addPending(tokenId);

    String window = detokenizer.decode(tokens, prefixOffset, length);
    if (!window.isEmpty() && window.charAt(window.length() - 1) == REPLACEMENT) {
      return Chunk.EMPTY;                       // an incomplete character: wait for its next byte
    }
    String delta = window.length() > prefixText.length() && window.startsWith(prefixText)
        ? window.substring(prefixText.length())
        : window.length() > prefixText.length() ? window.substring(commonPrefix(prefixText, window)) : "";
    text.append(delta);
    resolvePending();
    if (!delta.isEmpty()) {
      prefixOffset = readOffset;
      readOffset = length;
      prefixText = detokenizer.decode(tokens, prefixOffset, readOffset);
    }
    return release(false);
  }

  /** The generation ended (EOS, length, cancel): everything held back goes out, an incomplete character as U+FFFD. */
  public Chunk finish() {
    if (stopped) return Chunk.EMPTY;
    boolean unresolved = false;
    for (int i = 0; i < pendingCount; i++) unresolved |= pendingEnds[i] < 0;
    if (unresolved) {
      String window = detokenizer.decode(tokens, prefixOffset, length);
      if (window.length() > prefixText.length()) text.append(window.substring(commonPrefix(prefixText, window)));
      resolvePending();
    }
    return release(true);
  }

  private Chunk release(boolean all) {
    int stopAt = findStop();
    if (stopAt >= 0) {
      stopped = true;
      text.setLength(stopAt);
      int n = 0;
      while (n < pendingCount && pendingEnds[n] >= 0 && pendingEnds[n] <= stopAt) n++;
      return take(n, stopAt);
    }
    int safeEnd = all ? text.length() : text.length() - stopPrefixHeld();
    int n = 0;
    while (n < pendingCount && pendingEnds[n] >= 0 && pendingEnds[n] <= safeEnd) n++;
    if (n == 0) return Chunk.EMPTY;
    return take(n, pendingEnds[n - 1]);
  }

  private Chunk take(int n, int textEnd) {
    String out = text.substring(emittedChars, Math.max(emittedChars, textEnd));
    emittedChars = Math.max(emittedChars, textEnd);
    int[] ids = Arrays.copyOf(pendingIds, n);
    System.arraycopy(pendingIds, n, pendingIds, 0, pendingCount - n);
    System.arraycopy(pendingEnds, n, pendingEnds, 0, pendingCount - n);
    pendingCount -= n;
    if (out.isEmpty() && ids.length == 0) return Chunk.EMPTY;
    return new Chunk(out, ids);
  }

  private int findStop() {
    int best = -1;
    // indexed loops, here and below: a node's Java runs on C1, which allocates an iterator for each for-each
    for (int j = 0; j < stops.size(); j++) {
      String s = stops.get(j);
      int from = Math.max(0, emittedChars);
      int i = text.indexOf(s, from);
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  }

  /** Length of the longest unemitted tail of the text that is a proper prefix of some stop sequence. */
  private int stopPrefixHeld() {
    int held = 0;
    int len = text.length();
    for (int j = 0; j < stops.size(); j++) {
      String s = stops.get(j);
      for (int k = Math.min(s.length() - 1, len - emittedChars); k > held; k--) {
        if (regionEquals(len - k, s, k)) { held = k; break; }
      }
    }
    return held;
  }

  private boolean regionEquals(int start, String s, int k) {
    for (int i = 0; i < k; i++) if (text.charAt(start + i) != s.charAt(i)) return false;
    return true;
  }

  private void addPending(int id) {
    if (pendingCount == pendingIds.length) {
      pendingIds = Arrays.copyOf(pendingIds, pendingCount * 2);
      pendingEnds = Arrays.copyOf(pendingEnds, pendingCount * 2);
    }
    pendingIds[pendingCount] = id;
    pendingEnds[pendingCount] = -1;
    pendingCount++;
  }

  private void resolvePending() {
    for (int i = 0; i < pendingCount; i++) if (pendingEnds[i] < 0) pendingEnds[i] = text.length();
  }

  private static int commonPrefix(String a, String b) {
    int n = Math.min(a.length(), b.length());
    int i = 0;
    while (i < n && a.charAt(i) == b.charAt(i)) i++;
    return i;
  }
}
