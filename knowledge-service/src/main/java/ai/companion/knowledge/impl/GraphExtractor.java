package ai.companion.knowledge.impl;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Entities and relations from plain sentences, with rules instead of a trained model:
 * <ul>
 *   <li>entities: runs of capitalised words or words with inner capitals ("Apache Lucene", "ONNX", "Vert.x"),
 *       joined by "of"/"for"/"de"; and noun phrases after an article ("a search library" gives "search library");</li>
 *   <li>relations between neighbouring entities of one sentence: "X is a Y" ({@code is a}), "X has Y" and other
 *       short lower-case verb phrases between them ("runs on", "was written in"); every other pair of entities in
 *       the sentence is linked as {@code co-occurs with}.</li>
 * </ul>
 */
public final class GraphExtractor {
  private GraphExtractor() {}

  public static final String CO_OCCURS = "co-occurs with";

  /** An entity: normalised key (lower case), the surface form first seen, and how it was found. */
  public record Entity(String key, String name, String kind) {}

  /** A directed relation; co-occurrence is stored with the keys in lexical order. */
  public record Relation(String src, String srcName, String rel, String dst, String dstName, String sentence) {
    public boolean cooccurrence() { return CO_OCCURS.equals(rel); }
  }

  /** What one chunk yields. */
  public record Extraction(List<Entity> entities, List<Relation> relations) {}

  static final Set<String> STOP = Set.copyOf(List.of(
      "a", "an", "the", "and", "or", "but", "if", "then", "else", "when", "while", "of", "at", "by", "for", "with",
      "about", "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from",
      "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "once", "here", "there", "where",
      "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
      "only", "own", "same", "so", "than", "too", "very", "can", "will", "just", "should", "now", "is", "are", "was",
      "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "would", "could",
      "might", "must", "shall", "may", "it", "its", "this", "that", "these", "those", "i", "me", "my", "we", "our",
      "you", "your", "he", "him", "his", "she", "her", "they", "them", "their", "what", "which", "who", "whom",
      "as", "also", "one", "two", "three", "first", "second", "new", "many", "much", "every", "use", "used", "using",
      "get", "gets", "make", "makes", "like", "via", "per", "yes", "see", "e.g", "i.e", "etc", "let", "lets",
      "there's", "it's", "don't", "doesn't", "can't", "won't", "isn't", "aren't", "s", "t"));

  /** Capitalised words that start sentences without naming anything. */
  static final Set<String> WEAK_CAPS = Set.copyOf(List.of(
      "the", "a", "an", "this", "that", "these", "those", "it", "its", "in", "on", "at", "for", "to", "from", "with",
      "when", "while", "if", "then", "how", "what", "which", "who", "why", "where", "there", "here", "each", "every",
      "all", "some", "many", "most", "one", "after", "before", "during", "as", "by", "but", "and", "or", "so", "yes",
      "no", "not", "note", "see", "use", "run", "add", "set", "start", "stop", "you", "we", "they", "he", "she", "i",
      "our", "your", "their", "my", "do", "does", "is", "are", "can", "will", "should", "may", "also", "today",
      "example", "for example", "once", "both", "only", "since", "because", "although", "however", "otherwise",
      "first", "then", "next", "finally", "be", "make", "get", "give", "send", "read", "write", "open", "close"));

  private static final Set<String> CONNECTORS = Set.of("of", "for", "de", "von", "van", "la", "le", "del", "du");
  private static final Set<String> ARTICLES = Set.of("a", "an", "the");
  private static final Set<String> COPULA = Set.of("is", "are", "was", "were");
  private static final Pattern TOKEN = Pattern.compile("[\\p{L}\\p{N}][\\p{L}\\p{N}'\u2019._+/-]*[\\p{L}\\p{N}+]|[\\p{L}\\p{N}]");

  private record Tok(String text, String lower, int start, int end) {
    boolean capitalised() {
      if (Character.isUpperCase(text.charAt(0))) return true;
      for (int i = 1; i < text.length(); i++) if (Character.isUpperCase(text.charAt(i))) return true;   // iPhone, gRPC
      return false;
    }
    boolean plainWord() {
      for (int i = 0; i < text.length(); i++) {
        char c = text.charAt(i);
        if (!(Character.isLowerCase(c) || c == '-')) return false;
      }
      return true;
    }
  }

  private record Span(int from, int to, Entity entity) {}   // token indexes [from, to)

  /** Entities and relations of a chunk (its sentences). */
  public static Extraction extract(String chunkText) {
    return extract(chunkText, Set.of());
  }

  /**
   * Entities and relations of a chunk; {@code known} names (keys) found elsewhere in the document or in the store
   * are recognised even where the text writes them in lower case ("etcd").
   */
  public static Extraction extract(String chunkText, Set<String> known) {
    Map<String, Entity> entities = new LinkedHashMap<>();
    Map<String, Relation> relations = new LinkedHashMap<>();
    for (String para : chunkText.split("\\n\\n")) {
      for (String whole : Sentences.split(para)) {
        // table cells ("a | b | c") are separate statements: no relation spans a cell border
        for (String sentence : whole.split("\\s\\|\\s")) {
          List<Tok> toks = tokens(sentence);
          List<Span> spans = spans(toks);
          if (!known.isEmpty()) spans = withKnown(toks, spans, known);
          for (Span s : spans) entities.putIfAbsent(s.entity().key(), s.entity());
          relate(sentence, toks, spans, relations);
        }
      }
    }
    return new Extraction(List.copyOf(entities.values()), List.copyOf(relations.values()));
  }

  /** Candidate entity keys in a question: every 1 to 4 word span that is not only stop words. */
  public static Set<String> queryKeys(String query) {
    List<Tok> toks = tokens(query);
    Set<String> keys = new LinkedHashSet<>();
    for (int i = 0; i < toks.size(); i++) {
      for (int n = 1; n <= 4 && i + n <= toks.size(); n++) {
        List<Tok> g = toks.subList(i, i + n);
        if (STOP.contains(g.get(0).lower()) || STOP.contains(g.get(n - 1).lower())) continue;
        keys.add(key(g));
      }
    }
    return keys;
  }

  private static List<Tok> tokens(String s) {
    List<Tok> out = new ArrayList<>();
    Matcher m = TOKEN.matcher(s);
    while (m.find()) {
      String t = m.group();
      if (t.endsWith("'s") || t.endsWith("\u2019s")) t = t.substring(0, t.length() - 2);
      if (t.isEmpty()) continue;
      out.add(new Tok(t, t.toLowerCase(Locale.ROOT), m.start(), m.start() + t.length()));
    }
    return out;
  }

  private static List<Span> spans(List<Tok> toks) {
    List<Span> spans = new ArrayList<>();
    int i = 0;
    // a definition names its subject even in lower case: "etcd is a distributed key-value store"
    for (int j = 1; j <= 3 && j + 1 < toks.size(); j++) {
      if (COPULA.contains(toks.get(j).lower()) && ARTICLES.contains(toks.get(j + 1).lower())) {
        List<Tok> subj = toks.subList(0, j);
        boolean plain = subj.stream().allMatch(t -> !STOP.contains(t.lower()) && !t.capitalised());
        if (plain) {
          spans.add(new Span(0, j, new Entity(key(subj), surface(subj), "name")));
          i = j;
        }
        break;
      }
    }
    while (i < toks.size()) {
      Tok t = toks.get(i);
      if (t.capitalised() && !(i == 0 && WEAK_CAPS.contains(t.lower())) && !isNumber(t.text())) {
        int j = i + 1;
        while (j < toks.size()) {
          Tok n = toks.get(j);
          if (n.capitalised() && !isNumber(n.text())) { j++; continue; }
          if (CONNECTORS.contains(n.lower()) && j + 1 < toks.size() && toks.get(j + 1).capitalised()
              && j + 1 - i <= 4) { j += 2; continue; }
          break;
        }
        List<Tok> run = toks.subList(i, j);
        // a lone capitalised word that starts the sentence may just be a capitalised common word: keep it only
        // if it looks like a name (inner capitals, digits, dots) or is longer than a stop word
        if (!(i == 0 && run.size() == 1 && STOP.contains(t.lower()))) {
          spans.add(new Span(i, j, new Entity(key(run), surface(run), "name")));
        }
        i = j;
        continue;
      }
      if (ARTICLES.contains(t.lower())) {
        int j = i + 1;
        while (j < toks.size() && j - i <= 4 && toks.get(j).plainWord() && !STOP.contains(toks.get(j).lower())
            && !(j > i + 1 && verbLike(toks.get(j).lower()))) j++;
        if (j > i + 1 && toks.get(j - 1).text().length() >= 3) {
          List<Tok> np = toks.subList(i + 1, j);
          spans.add(new Span(i + 1, j, new Entity(key(np), surface(np), "noun_phrase")));
          i = j;
          continue;
        }
      }
      i++;
    }
    return spans;
  }

  /** Adds spans for known names that the rules missed, longest first, without overlapping existing spans. */
  private static List<Span> withKnown(List<Tok> toks, List<Span> spans, Set<String> known) {
    boolean[] used = new boolean[toks.size()];
    for (Span s : spans) for (int i = s.from(); i < s.to(); i++) used[i] = true;
    List<Span> out = new ArrayList<>(spans);
    for (int n = 4; n >= 1; n--) {
      for (int i = 0; i + n <= toks.size(); i++) {
        boolean free = true;
        for (int j = i; j < i + n; j++) free &= !used[j];
        if (!free) continue;
        List<Tok> g = toks.subList(i, i + n);
        String k = key(g);
        if (!known.contains(k)) continue;
        out.add(new Span(i, i + n, new Entity(k, surface(g), "name")));
        for (int j = i; j < i + n; j++) used[j] = true;
      }
    }
    out.sort(java.util.Comparator.comparingInt(Span::from));
    return out;
  }

  private static void relate(String sentence, List<Tok> toks, List<Span> spans, Map<String, Relation> out) {
    String evidence = sentence.length() > 300 ? sentence.substring(0, 300) : sentence;
    Set<String> linked = new LinkedHashSet<>();
    for (int s = 0; s + 1 < spans.size(); s++) {
      Span a = spans.get(s);
      Span b = spans.get(s + 1);
      if (a.entity().key().equals(b.entity().key())) continue;
      List<Tok> between = toks.subList(a.to(), b.from());
      String rel = relationLabel(between);
      if (rel == null) continue;
      add(out, new Relation(a.entity().key(), a.entity().name(), rel, b.entity().key(), b.entity().name(), evidence));
      linked.add(a.entity().key() + "\u0000" + b.entity().key());
    }
    int limit = Math.min(spans.size(), 8);
    for (int x = 0; x < limit; x++) {
      for (int y = x + 1; y < limit; y++) {
        Entity a = spans.get(x).entity();
        Entity b = spans.get(y).entity();
        if (a.key().equals(b.key())) continue;
        if (linked.contains(a.key() + "\u0000" + b.key()) || linked.contains(b.key() + "\u0000" + a.key())) continue;
        Entity lo = a.key().compareTo(b.key()) < 0 ? a : b;
        Entity hi = lo == a ? b : a;
        add(out, new Relation(lo.key(), lo.name(), CO_OCCURS, hi.key(), hi.name(), evidence));
      }
    }
  }

  /** "is a", "has", "runs on" ...: a short run of plain lower-case words between two entities, else null. */
  private static String relationLabel(List<Tok> between) {
    if (between.isEmpty() || between.size() > 6) return null;
    List<String> words = new ArrayList<>();
    for (Tok t : between) {
      if (!t.plainWord()) return null;
      words.add(t.lower());
    }
    // "X is a Y": the article was consumed by Y's noun phrase, so only the copula is left
    if (words.size() == 1 && COPULA.contains(words.get(0))) return "is a";
    if (COPULA.contains(words.get(0)) && words.size() >= 2 && ARTICLES.contains(words.get(1)) && words.size() == 2) {
      return "is a";
    }
    // must hold a verb-like word, not only glue ("and", "of the")
    boolean verbish = false;
    for (String w : words) {
      if (w.equals("and") || w.equals("or")) return null;
      if (!STOP.contains(w) || COPULA.contains(w) || w.equals("has") || w.equals("have") || w.equals("had")
          || w.equals("uses") || w.equals("can") || w.equals("will")) verbish = true;
    }
    if (!verbish) return null;
    while (!words.isEmpty() && ARTICLES.contains(words.get(words.size() - 1))) words.remove(words.size() - 1);
    return words.isEmpty() ? null : String.join(" ", words);
  }

  private static void add(Map<String, Relation> out, Relation r) {
    out.putIfAbsent(r.src() + "\u0000" + r.rel() + "\u0000" + r.dst(), r);
  }

  private static final Set<String> IRREGULAR_VERBS = Set.of("written", "made", "built", "known", "run", "runs",
      "seen", "given", "taken", "held", "kept", "found", "grown", "sold", "told", "brought", "thought", "become",
      "stores", "holds", "keeps", "makes", "takes", "gives", "needs", "means", "lets", "tells", "writes", "reads");

  /** A word after the head of a noun phrase that more likely starts a verb phrase ("a library written in"). */
  private static boolean verbLike(String w) {
    return IRREGULAR_VERBS.contains(w) || (w.length() > 4 && (w.endsWith("ed") || w.endsWith("ing")));
  }

  public static boolean isStopWord(String lowerCaseWord) {
    return STOP.contains(lowerCaseWord);
  }

  private static boolean isNumber(String s) {
    for (int i = 0; i < s.length(); i++) if (Character.isLetter(s.charAt(i))) return false;
    return true;
  }

  private static String key(List<Tok> toks) {
    StringBuilder sb = new StringBuilder();
    for (Tok t : toks) {
      if (sb.length() > 0) sb.append(' ');
      sb.append(t.lower());
    }
    return sb.toString();
  }

  private static String surface(List<Tok> toks) {
    StringBuilder sb = new StringBuilder();
    for (Tok t : toks) {
      if (sb.length() > 0) sb.append(' ');
      sb.append(t.text());
    }
    return sb.toString();
  }
}
