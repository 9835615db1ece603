package ai.companion.router.impl;

import java.util.Locale;
import java.util.Set;

/** Cheap, tokenizer-free measures of a text: token estimate, question-likeness, question shape. */
public final class TextFeatures {

  private TextFeatures() {}

  static final int ESTIMATE_PREFIX = 4000;
  static final int HEAD_CHARS = 400;

  static String head(String s) {
    return s.length() <= HEAD_CHARS ? s : s.substring(0, HEAD_CHARS);
  }

  /** Characters per token of a typical 32k-vocabulary sub-word tokenizer on English prose. */
  public static final double GENERIC_CHARS_PER_TOKEN = 4.0;

  private static final Set<String> WH = Set.of("what", "who", "whom", "whose", "when", "where", "why", "how",
      "which", "wer", "wann", "wo", "warum", "wie", "welche", "welcher", "qui", "quoi", "quand", "où",
      "pourquoi", "comment", "quel", "quelle", "qué", "quién", "cuándo", "dónde", "cómo", "cuál", "chi", "cosa",
      "quando", "dove", "perché", "come", "quale", "wat", "wanneer", "waar", "waarom", "hoe");
  /** Question words of other languages as their English shape, so patterns (and route headers) stay ASCII. */
  private static final java.util.Map<String, String> WH_CANONICAL = java.util.Map.ofEntries(
      java.util.Map.entry("wer", "who"), java.util.Map.entry("wann", "when"), java.util.Map.entry("wo", "where"),
      java.util.Map.entry("warum", "why"), java.util.Map.entry("wie", "how"), java.util.Map.entry("welche", "which"),
      java.util.Map.entry("welcher", "which"), java.util.Map.entry("qui", "who"), java.util.Map.entry("quoi", "what"),
      java.util.Map.entry("quand", "when"), java.util.Map.entry("où", "where"), java.util.Map.entry("pourquoi", "why"),
      java.util.Map.entry("comment", "how"), java.util.Map.entry("quel", "which"), java.util.Map.entry("quelle", "which"),
      java.util.Map.entry("qué", "what"), java.util.Map.entry("quién", "who"), java.util.Map.entry("cuándo", "when"),
      java.util.Map.entry("dónde", "where"), java.util.Map.entry("cómo", "how"), java.util.Map.entry("cuál", "which"),
      java.util.Map.entry("chi", "who"), java.util.Map.entry("cosa", "what"), java.util.Map.entry("quando", "when"),
      java.util.Map.entry("dove", "where"), java.util.Map.entry("perché", "why"), java.util.Map.entry("come", "how"),
      java.util.Map.entry("quale", "which"), java.util.Map.entry("wat", "what"), java.util.Map.entry("wanneer", "when"),
      java.util.Map.entry("waar", "where"), java.util.Map.entry("waarom", "why"), java.util.Map.entry("hoe", "how"));
  private static final Set<String> AUX = Set.of("is", "are", "was", "were", "do", "does", "did", "can", "could",
      "should", "would", "will", "has", "have", "had", "may", "might", "must", "shall", "ist", "sind", "kann",
      "est-ce", "puis-je", "es", "está", "hay", "è");
  private static final Set<String> ASK_VERBS = Set.of("explain", "define", "describe", "list", "compare",
      "summarize", "summarise", "name", "find");
  private static final Set<String> CREATIVE = Set.of("write", "tell", "imagine", "compose", "create", "invent",
      "generate", "continue", "dream", "narrate", "once", "pretend");
  private static final Set<String> CREATIVE_NOUNS = Set.of("story", "stories", "tale", "fairy", "poem", "dream",
      "dreams", "dreaming", "bedtime", "fable");

  /**
   * Prompt tokens without a tokenizer: Han/kana/Hangul characters count one each (those tokenizers split
   * them about that finely); other words count one per {@link #GENERIC_CHARS_PER_TOKEN} characters, at least
   * one, and every punctuation mark one.
   */
  public static int estimateTokens(String text) {
    // beyond a few thousand characters the rate is steady: count a prefix and scale
    if (text.length() > ESTIMATE_PREFIX) {
      return (int) Math.ceil(estimateTokens(text.substring(0, ESTIMATE_PREFIX)) * (text.length() / (double) ESTIMATE_PREFIX));
    }
    int tokens = 0;
    int word = 0;
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      Character.UnicodeScript s = Character.UnicodeScript.of(cp);
      if (s == Character.UnicodeScript.HAN || s == Character.UnicodeScript.HIRAGANA
          || s == Character.UnicodeScript.KATAKANA || s == Character.UnicodeScript.HANGUL) {
        tokens += wordTokens(word) + 1;
        word = 0;
      } else if (Character.isLetterOrDigit(cp)) {
        word++;
      } else {
        tokens += wordTokens(word);
        word = 0;
        if (!Character.isWhitespace(cp)) tokens++;
      }
    }
    return tokens + wordTokens(word);
  }

  private static int wordTokens(int letters) {
    return letters == 0 ? 0 : (int) Math.ceil(letters / GENERIC_CHARS_PER_TOKEN);
  }

  /** Tokens on a tokenizer whose measured ratio is {@code charsPerToken} (0: unknown, use the estimate). */
  public static int tokensAt(String text, double charsPerToken) {
    if (charsPerToken <= 0) return estimateTokens(text);
    return (int) Math.ceil(text.length() / charsPerToken);
  }

  /** 0..1: how much {@code query} reads as a question seeking facts (rather than a creative request). */
  public static double questionScore(String query) {
    String q = query.strip();
    if (q.isEmpty()) return 0;
    // the shape of a question is in its first words; a long document need not be split whole
    String[] words = words(head(q));
    if (words.length == 0) return 0;
    double s = 0;
    if (q.endsWith("?") || q.startsWith("¿")) s += 0.45;
    String first = words[0];
    if (WH.contains(first)) s += 0.45;
    else if (AUX.contains(first)) s += 0.3;
    else if (ASK_VERBS.contains(first)) s += 0.55;
    String lower = head(q).toLowerCase(Locale.ROOT);
    if (lower.contains("how do i") || lower.contains("how to ") || lower.contains("what is")
        || lower.contains("what are") || lower.contains("difference between")) s += 0.15;
    if (CREATIVE.contains(first)) s -= 0.4;
    for (String w : words) {
      if (CREATIVE_NOUNS.contains(w)) {
        s -= 0.35;
        break;
      }
    }
    return Math.max(0, Math.min(1, s));
  }

  /** The question's shape: its wh-word, {@code yesno}, {@code ask} (explain, define ...), or {@code other}. */
  public static String shape(String query) {
    String[] words = words(head(query.strip()));
    if (words.length == 0) return "empty";
    String first = words[0];
    if (WH.contains(first)) return WH_CANONICAL.getOrDefault(first, first);
    if (AUX.contains(first)) return "yesno";
    if (ASK_VERBS.contains(first)) return "ask";
    if (CREATIVE.contains(first)) return "create";
    return "other";
  }

  public static String lengthBucket(int tokens) {
    return tokens <= 24 ? "short" : tokens <= 128 ? "medium" : "long";
  }

  public static int wordCount(String text) {
    return words(text).length;
  }

  static String[] words(String text) {
    String[] w = text.toLowerCase(Locale.ROOT).split("[^\\p{L}\\p{N}'-]+");
    if (w.length > 0 && w[0].isEmpty()) {
      String[] out = new String[w.length - 1];
      System.arraycopy(w, 1, out, 0, out.length);
      return out;
    }
    return w;
  }
}
