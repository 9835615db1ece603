package ai.companion.modelimport.impl;

import ai.companion.modelimport.Llama2cTokenizer;
import ai.companion.modelimport.ModelImportException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hugging Face {@code tokenizer.json} and {@code tokenizer_config.json} equivalent to a llama2.c
 * tokenizer: the legacy Llama layout (normalizer Prepend "▁" + Replace " "→"▁", BPE with byte
 * fallback, merges derived from the piece scores). See MODEL-FORMAT-NOTES.md.
 */
public final class TokenizerFiles {
  public static final String SPACE = "\u2581";
  public static final String UNK = "<unk>";
  public static final String BOS = "<s>";
  public static final String EOS = "</s>";

  private TokenizerFiles() {}

  /** Vocabulary pieces in Hugging Face spelling (spaces as U+2581, specials renamed), by id. */
  public static String[] hfPieces(Llama2cTokenizer tok) throws ModelImportException {
    String[] out = new String[tok.vocabSize()];
    out[Llama2cTokenizer.UNK] = UNK;
    out[Llama2cTokenizer.BOS] = BOS;
    out[Llama2cTokenizer.EOS] = EOS;
    for (int id = 3; id < out.length; id++) {
      String piece;
      try {
        piece = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(tok.pieceBytes(id))).toString();
      } catch (CharacterCodingException e) {
        throw new ModelImportException(tok.file(), "token " + id + " is not valid UTF-8");
      }
      out[id] = piece.replace(" ", SPACE);
    }
    return out;
  }

  /** The vocabulary as tokenizer.json's ordered map, rejecting duplicate pieces. */
  private static Map<String, Object> vocab(Llama2cTokenizer tok, String[] pieces)
      throws ModelImportException {
    Map<String, Object> vocab = new LinkedHashMap<>();
    for (int id = 0; id < pieces.length; id++) {
      Object before = vocab.putIfAbsent(pieces[id], id);
      if (before != null) {
        throw new ModelImportException(tok.file(), "tokens " + before + " and " + id
            + " are the same piece \"" + pieces[id] + "\"");
      }
    }
    return vocab;
  }

  /**
   * Merges from the scores: pieces by descending score, and for each piece every split into two
   * vocabulary pieces, left to right.
   */
  static List<Object> merges(String[] pieces, float[] scores, Map<String, Object> vocab) {
    List<Integer> order = new ArrayList<>();
    for (int id = Llama2cTokenizer.BYTE_OFFSET + 256; id < pieces.length; id++) order.add(id);
    order.sort(Comparator.comparingDouble((Integer id) -> -scores[id]).thenComparingInt(id -> id));
    List<Object> merges = new ArrayList<>();
    for (int id : order) {
      String p = pieces[id];
      int cps = p.codePointCount(0, p.length());
      if (cps < 2) continue;
      for (int k = 1; k < cps; k++) {
        int at = p.offsetByCodePoints(0, k);
        String left = p.substring(0, at);
        String right = p.substring(at);
        if (vocab.containsKey(left) && vocab.containsKey(right)) merges.add(left + " " + right);
      }
    }
    return merges;
  }

  /** tokenizer.json as a JSON-ready map. */
  public static Map<String, Object> tokenizerJson(Llama2cTokenizer tok) throws ModelImportException {
    String[] pieces = hfPieces(tok);
    for (int id = 0; id < pieces.length; id++) {
      if (pieces[id].contains(" ")) throw new IllegalStateException("space in piece " + id);
    }
    float[] scores = new float[pieces.length];
    for (int i = 0; i < scores.length; i++) scores[i] = tok.score(i);
    Map<String, Object> vocab = vocab(tok, pieces);

    Map<String, Object> root = new LinkedHashMap<>();
    root.put("version", "1.0");
    root.put("truncation", null);
    root.put("padding", null);
    root.put("added_tokens", List.of(
        added(Llama2cTokenizer.UNK, UNK), added(Llama2cTokenizer.BOS, BOS),
        added(Llama2cTokenizer.EOS, EOS)));
    root.put("normalizer", map("type", "Sequence", "normalizers", List.of(
        map("type", "Prepend", "prepend", SPACE),
        map("type", "Replace", "pattern", map("String", " "), "content", SPACE))));
    root.put("pre_tokenizer", null);
    root.put("post_processor", map(
        "type", "TemplateProcessing",
        "single", List.of(special(BOS), sequence("A")),
        "pair", List.of(special(BOS), sequence("A"), special(BOS), sequence("B")),
        "special_tokens", map(BOS, map("id", BOS, "ids", List.of(Llama2cTokenizer.BOS),
            "tokens", List.of(BOS)))));
    root.put("decoder", map("type", "Sequence", "decoders", List.of(
        map("type", "Replace", "pattern", map("String", SPACE), "content", " "),
        map("type", "ByteFallback"),
        map("type", "Fuse"),
        map("type", "Strip", "content", " ", "start", 1, "stop", 0))));
    Map<String, Object> model = new LinkedHashMap<>();
    model.put("type", "BPE");
    model.put("dropout", null);
    model.put("unk_token", UNK);
    model.put("continuing_subword_prefix", null);
    model.put("end_of_word_suffix", null);
    model.put("fuse_unk", true);
    model.put("byte_fallback", true);
    model.put("ignore_merges", false);
    model.put("vocab", vocab);
    model.put("merges", merges(pieces, scores, vocab));
    root.put("model", model);
    return root;
  }

  /** tokenizer_config.json as a JSON-ready map. */
  public static Map<String, Object> tokenizerConfig(int modelMaxLength) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("tokenizer_class", "LlamaTokenizer");
    m.put("bos_token", BOS);
    m.put("eos_token", EOS);
    m.put("unk_token", UNK);
    m.put("pad_token", null);
    m.put("add_bos_token", true);
    m.put("add_eos_token", false);
    m.put("legacy", true);
    m.put("clean_up_tokenization_spaces", false);
    m.put("model_max_length", modelMaxLength);
    return m;
  }

  private static Map<String, Object> added(int id, String content) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id);
    m.put("content", content);
    m.put("single_word", false);
    m.put("lstrip", false);
    m.put("rstrip", false);
    m.put("normalized", false);
    m.put("special", true);
    return m;
  }

  private static Map<String, Object> special(String token) {
    return map("SpecialToken", map("id", token, "type_id", 0));
  }

  private static Map<String, Object> sequence(String id) {
    return map("Sequence", map("id", id, "type_id", 0));
  }

  /** An ordered map from alternating keys and values. */
  public static Map<String, Object> map(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
    return m;
  }
}
