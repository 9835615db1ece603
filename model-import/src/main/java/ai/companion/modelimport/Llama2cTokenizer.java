package ai.companion.modelimport;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * llama2.c's tokenizer ({@code tokenizer.bin} / {@code tok512.bin}): the vocabulary with its merge
 * scores, and a port of run.c's {@code encode} and {@code decode}. Pieces are byte strings; here they
 * are held as ISO-8859-1 strings so that one char is one byte, exactly as run.c compares them.
 *
 * <p>File format: int32 max_token_length, then per token: float32 score, int32 length, the bytes.
 */
public final class Llama2cTokenizer {
  public static final int UNK = 0;
  public static final int BOS = 1;
  public static final int EOS = 2;
  /** Id of the byte-fallback token {@code <0x00>}; byte b is {@code BYTE_OFFSET + b}. */
  public static final int BYTE_OFFSET = 3;

  private final Path file;
  private final int maxTokenLength;
  private final String[] pieces; // bytes as ISO-8859-1 chars
  private final float[] scores;
  private final Map<String, Integer> ids = new HashMap<>();

  private Llama2cTokenizer(Path file, int maxTokenLength, String[] pieces, float[] scores) {
    this.file = file;
    this.maxTokenLength = maxTokenLength;
    this.pieces = pieces;
    this.scores = scores;
    // run.c's str_lookup over the sorted vocabulary: with duplicates, bsearch may find either; keep
    // the first id
    for (int i = 0; i < pieces.length; i++) ids.putIfAbsent(pieces[i], i);
  }

  /**
   * Reads a tokenizer file that must hold exactly {@code vocabSize} tokens.
   *
   * @param vocabSize the model's vocabulary size; 0 reads every token in the file
   */
  public static Llama2cTokenizer read(Path file, int vocabSize) throws ModelImportException {
    byte[] data;
    try {
      data = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new ModelImportException(file, "cannot read tokenizer: " + e, e);
    }
    ByteBuffer buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    if (buf.remaining() < 4) {
      throw new ModelImportException(file, "not a llama2.c tokenizer: only " + data.length + " bytes");
    }
    int maxLen = buf.getInt();
    if (maxLen < 1 || maxLen > 1024) {
      throw new ModelImportException(file, "not a llama2.c tokenizer: max_token_length " + maxLen
          + " (expected 1..1024)");
    }
    List<String> pieces = new ArrayList<>();
    List<Float> scores = new ArrayList<>();
    while (buf.hasRemaining() && (vocabSize == 0 || pieces.size() < vocabSize)) {
      int id = pieces.size();
      if (buf.remaining() < 8) {
        throw new ModelImportException(file, "truncated tokenizer: token " + id + " starts at byte "
            + buf.position() + " but only " + buf.remaining() + " bytes remain");
      }
      float score = buf.getFloat();
      int len = buf.getInt();
      if (len < 0 || len > maxLen) {
        throw new ModelImportException(file, "not a llama2.c tokenizer: token " + id + " has length "
            + len + " (max_token_length " + maxLen + ")");
      }
      if (!Float.isFinite(score)) {
        throw new ModelImportException(file, "not a llama2.c tokenizer: token " + id + " has score "
            + score);
      }
      if (buf.remaining() < len) {
        throw new ModelImportException(file, "truncated tokenizer: token " + id + " needs " + len
            + " bytes, " + buf.remaining() + " remain");
      }
      byte[] b = new byte[len];
      buf.get(b);
      pieces.add(new String(b, StandardCharsets.ISO_8859_1));
      scores.add(score);
    }
    if (vocabSize > 0 && pieces.size() < vocabSize) {
      throw new ModelImportException(file, "tokenizer has " + pieces.size()
          + " tokens but the model's vocab_size is " + vocabSize + " (wrong tokenizer for this model?)");
    }
    if (buf.hasRemaining()) {
      throw new ModelImportException(file, "tokenizer has more than the model's " + vocabSize
          + " tokens (" + buf.remaining() + " bytes left after token " + (vocabSize - 1)
          + "; wrong tokenizer for this model?)");
    }
    if (pieces.size() < BYTE_OFFSET + 256) {
      throw new ModelImportException(file, "tokenizer has " + pieces.size()
          + " tokens; a llama2.c tokenizer has <unk>, <s>, </s> and 256 byte tokens first");
    }
    float[] s = new float[scores.size()];
    for (int i = 0; i < s.length; i++) s[i] = scores.get(i);
    return new Llama2cTokenizer(file, maxLen, pieces.toArray(String[]::new), s);
  }

  /**
   * A tokenizer made in memory (no file): pieces as raw bytes, ids 0..258 being {@code <unk>},
   * {@code <s>}, {@code </s>} and the 256 byte tokens as in llama2.c.
   */
  public static Llama2cTokenizer of(Path name, List<byte[]> pieces, float[] scores) {
    if (pieces.size() != scores.length || pieces.size() < BYTE_OFFSET + 256) {
      throw new IllegalArgumentException(pieces.size() + " pieces, " + scores.length + " scores");
    }
    int maxLen = 1;
    String[] p = new String[pieces.size()];
    for (int i = 0; i < p.length; i++) {
      p[i] = new String(pieces.get(i), StandardCharsets.ISO_8859_1);
      maxLen = Math.max(maxLen, p[i].length());
    }
    return new Llama2cTokenizer(name, maxLen, p, scores.clone());
  }

  public Path file() {
    return file;
  }

  public int vocabSize() {
    return pieces.length;
  }

  public int maxTokenLength() {
    return maxTokenLength;
  }

  public float score(int id) {
    return scores[id];
  }

  /** The raw bytes of a piece. */
  public byte[] pieceBytes(int id) {
    return pieces[id].getBytes(StandardCharsets.ISO_8859_1);
  }

  /** run.c's {@code encode}: optional BOS, a dummy-prefix space, codepoints or bytes, then merges. */
  public int[] encode(String text, boolean bos, boolean eos) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    int[] tokens = new int[bytes.length + 3];
    int n = 0;
    if (bos) tokens[n++] = BOS;
    if (bytes.length > 0) tokens[n++] = lookup(" ");
    StringBuilder cur = new StringBuilder(4);
    for (int i = 0; i < bytes.length; i++) {
      int c = bytes[i] & 0xff;
      if ((c & 0xC0) != 0x80) cur.setLength(0);
      cur.append((char) c);
      if (i + 1 < bytes.length && (bytes[i + 1] & 0xC0) == 0x80 && cur.length() < 4) continue;
      int id = lookup(cur.toString());
      if (id != -1) {
        tokens[n++] = id;
      } else {
        for (int k = 0; k < cur.length(); k++) tokens[n++] = cur.charAt(k) + BYTE_OFFSET;
      }
      cur.setLength(0);
    }
    while (true) {
      float best = -1e10f;
      int bestId = -1;
      int bestIdx = -1;
      for (int i = 0; i < n - 1; i++) {
        int id = lookup(pieces[tokens[i]] + pieces[tokens[i + 1]]);
        if (id != -1 && scores[id] > best) {
          best = scores[id];
          bestId = id;
          bestIdx = i;
        }
      }
      if (bestIdx == -1) break;
      tokens[bestIdx] = bestId;
      System.arraycopy(tokens, bestIdx + 2, tokens, bestIdx + 1, n - bestIdx - 2);
      n--;
    }
    if (eos) tokens[n++] = EOS;
    int[] out = new int[n];
    System.arraycopy(tokens, 0, out, 0, n);
    return out;
  }

  private int lookup(String piece) {
    Integer id = ids.get(piece);
    return id == null ? -1 : id;
  }

  /** run.c's {@code decode}: the bytes token {@code token} prints after {@code prev}. */
  public byte[] decode(int prev, int token) {
    String piece = pieces[token];
    if (prev == BOS && piece.startsWith(" ")) piece = piece.substring(1);
    if (piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">")) {
      try {
        return new byte[] {(byte) Integer.parseInt(piece.substring(3, 5), 16)};
      } catch (NumberFormatException e) {
        // not a byte token: print as is
      }
    }
    return piece.getBytes(StandardCharsets.ISO_8859_1);
  }

  /** Decodes a run of generated tokens as run.c prints them, {@code prev} being the token before. */
  public String decode(int prev, int[] tokens) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int t : tokens) {
      out.writeBytes(decode(prev, t));
      prev = t;
    }
    return out.toString(StandardCharsets.UTF_8);
  }
}
