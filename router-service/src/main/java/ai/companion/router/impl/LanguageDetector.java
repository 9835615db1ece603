package ai.companion.router.impl;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Language of a text in two steps: the Unicode script of its letters decides most languages outright (Han,
 * kana, Hangul, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai); Latin and Cyrillic texts are then told
 * apart by how many of their words are each language's most frequent function words. Cheap (one pass, no
 * model) and good enough to route on; short Latin texts without function words come out {@code und}.
 */
public final class LanguageDetector {

  public record Result(String language, double confidence) {}

  private static final Map<String, Set<String>> LATIN_STOPWORDS = Map.of(
      "en", Set.of("the", "and", "of", "to", "a", "in", "is", "it", "that", "was", "for", "on", "with", "as",
          "are", "be", "this", "by", "at", "from", "or", "an", "what", "how", "who", "why", "when", "where",
          "i", "you", "he", "she", "they", "we", "my", "me", "do", "does", "did", "can", "about", "there",
          "her", "his", "which", "will", "would", "have", "has", "had", "not", "but", "your", "their", "tell",
          "write", "story", "once", "upon"),
      "de", Set.of("der", "die", "das", "und", "ist", "nicht", "ein", "eine", "zu", "den", "von", "mit", "sich",
          "des", "auf", "für", "im", "dem", "auch", "es", "an", "wie", "was", "wer", "warum", "wo", "ich", "sie",
          "wir", "ihr", "er", "einen", "einem", "kann", "sind", "oder", "aber", "bei", "nach", "werden"),
      "fr", Set.of("le", "la", "les", "de", "des", "et", "est", "un", "une", "du", "en", "que", "qui", "dans",
          "pour", "pas", "sur", "au", "avec", "ce", "il", "elle", "je", "vous", "nous", "comment", "pourquoi",
          "quoi", "où", "quand", "sont", "mais", "ou", "par", "plus", "son", "sa", "ses", "aux", "cette"),
      "es", Set.of("el", "la", "los", "las", "de", "y", "que", "en", "un", "una", "es", "por", "con", "para",
          "del", "se", "no", "al", "lo", "como", "más", "pero", "sus", "su", "qué", "cómo", "dónde", "cuándo",
          "quién", "por qué", "yo", "tú", "está", "son", "muy", "también", "sobre", "este", "esta"),
      "it", Set.of("il", "lo", "la", "gli", "le", "di", "e", "che", "è", "un", "una", "per", "non", "con", "del",
          "della", "dei", "in", "si", "da", "come", "perché", "chi", "cosa", "dove", "quando", "sono", "ma",
          "anche", "questo", "questa", "nel", "nella", "al", "alla", "io", "tu", "lui", "lei", "molto"),
      "pt", Set.of("o", "a", "os", "as", "de", "e", "que", "em", "um", "uma", "do", "da", "dos", "das", "para",
          "com", "não", "por", "se", "mais", "como", "mas", "ao", "é", "são", "você", "eu", "ele", "ela",
          "onde", "quando", "porque", "qual", "muito", "também", "isso", "este", "esta", "no", "na"),
      "nl", Set.of("de", "het", "een", "en", "van", "is", "dat", "niet", "op", "te", "zijn", "met", "voor",
          "er", "maar", "om", "ook", "als", "aan", "bij", "wat", "hoe", "waarom", "wie", "waar", "wanneer",
          "ik", "je", "jij", "hij", "zij", "we", "wij", "deze", "dit", "naar", "kan", "worden", "nog"));

  private LanguageDetector() {}

  public static Result detect(String text) {
    Map<Character.UnicodeScript, Integer> scripts = new HashMap<>();
    int letters = 0;
    boolean ukrainianLetters = false;
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      if (!Character.isLetter(cp)) continue;
      letters++;
      scripts.merge(Character.UnicodeScript.of(cp), 1, Integer::sum);
      if (cp == 'і' || cp == 'ї' || cp == 'є' || cp == 'ґ' || cp == 'І' || cp == 'Ї' || cp == 'Є') ukrainianLetters = true;
    }
    if (letters == 0) return new Result("und", 0);
    Character.UnicodeScript top = null;
    int topCount = 0;
    for (var e : scripts.entrySet()) {
      if (e.getValue() > topCount) {
        top = e.getKey();
        topCount = e.getValue();
      }
    }
    double share = topCount / (double) letters;
    int kana = scripts.getOrDefault(Character.UnicodeScript.HIRAGANA, 0)
        + scripts.getOrDefault(Character.UnicodeScript.KATAKANA, 0);
    switch (top) {
      case HAN: return new Result(kana > 0 ? "ja" : "zh", share);
      case HIRAGANA, KATAKANA: return new Result("ja", (topCount + scripts.getOrDefault(
          Character.UnicodeScript.HAN, 0)) / (double) letters);
      case HANGUL: return new Result("ko", share);
      case GREEK: return new Result("el", share);
      case ARABIC: return new Result("ar", share);
      case HEBREW: return new Result("he", share);
      case DEVANAGARI: return new Result("hi", share);
      case THAI: return new Result("th", share);
      case CYRILLIC: return new Result(ukrainianLetters ? "uk" : "ru", share * (ukrainianLetters ? 0.9 : 0.8));
      case LATIN: return latin(text, share);
      default: return new Result("und", 0);
    }
  }

  private static Result latin(String text, double scriptShare) {
    String[] words = text.toLowerCase(Locale.ROOT).split("[^\\p{L}']+");
    Map<String, Integer> hits = new HashMap<>();
    int counted = 0;
    for (String w : words) {
      if (w.isEmpty()) continue;
      counted++;
      for (var e : LATIN_STOPWORDS.entrySet()) if (e.getValue().contains(w)) hits.merge(e.getKey(), 1, Integer::sum);
    }
    String best = "und";
    int bestHits = 0;
    int second = 0;
    for (var e : hits.entrySet()) {
      if (e.getValue() > bestHits || (e.getValue() == bestHits && e.getKey().equals("en"))) {
        second = Math.max(second, bestHits);
        best = e.getKey();
        bestHits = e.getValue();
      } else {
        second = Math.max(second, e.getValue());
      }
    }
    if (bestHits == 0 || counted == 0) return new Result("und", 0);
    // confidence: how clearly the winner beats the runner-up, damped for very short texts
    double margin = (bestHits - second + 1.0) / (bestHits + 1.0);
    double coverage = Math.min(1.0, bestHits / Math.max(1.0, counted * 0.25));
    return new Result(best, Math.max(0.05, Math.min(1.0, scriptShare * margin * (0.5 + 0.5 * coverage))));
  }
}
