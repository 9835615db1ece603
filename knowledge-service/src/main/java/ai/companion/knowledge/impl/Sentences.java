package ai.companion.knowledge.impl;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** A small rule-based sentence splitter: ends at . ! ? followed by space and an upper-case letter, digit or quote. */
public final class Sentences {
  private Sentences() {}

  private static final Set<String> ABBREVIATIONS = Set.of(
      "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "st", "no", "fig", "cf", "approx", "inc", "ltd",
      "jr", "sr", "u.s", "a.m", "p.m");

  /** Sentences of one paragraph (no newlines expected; newlines also end a sentence). */
  public static List<String> split(String text) {
    List<String> out = new ArrayList<>();
    int start = 0;
    int n = text.length();
    for (int i = 0; i < n; i++) {
      char c = text.charAt(i);
      if (c == '\n') {
        add(out, text.substring(start, i));
        start = i + 1;
        continue;
      }
      if (c != '.' && c != '!' && c != '?') continue;
      int j = i + 1;
      while (j < n && (text.charAt(j) == '"' || text.charAt(j) == '\'' || text.charAt(j) == ')'
          || text.charAt(j) == '\u201D')) j++;
      if (j < n && !Character.isWhitespace(text.charAt(j))) continue;   // "v1.2", "./companion", "Vert.x"
      int k = j;
      while (k < n && text.charAt(k) == ' ') k++;
      if (c == '.' && isAbbreviation(text, i)) continue;
      if (k < n) {
        char next = text.charAt(k);
        boolean strong = Character.isUpperCase(next) || Character.isDigit(next) || next == '"' || next == '\u201C'
            || next == '`' || next == '(' || next == '.' || next == '\n';
        // a lower-case start ("etcd is ...") ends the sentence only after a plain word of two letters or more
        if (!strong && !(Character.isLowerCase(next) && plainWordBefore(text, i))) continue;
      }
      add(out, text.substring(start, j));
      start = j;
    }
    add(out, text.substring(Math.min(start, n)));
    return out;
  }

  private static boolean plainWordBefore(String text, int dot) {
    int b = dot;
    while (b > 0 && Character.isLetterOrDigit(text.charAt(b - 1))) b--;
    return dot - b >= 2 && (b == 0 || text.charAt(b - 1) == ' ' || text.charAt(b - 1) == ')');
  }

  private static boolean isAbbreviation(String text, int dot) {
    int b = dot;
    while (b > 0 && (Character.isLetter(text.charAt(b - 1)) || text.charAt(b - 1) == '.')) b--;
    String word = text.substring(b, dot).toLowerCase(Locale.ROOT);
    if (word.length() == 1 && Character.isUpperCase(text.charAt(b))) return true;   // initials: "J. R. Tolkien"
    return ABBREVIATIONS.contains(word);
  }

  private static void add(List<String> out, String s) {
    String t = s.strip();
    if (!t.isEmpty()) out.add(t);
  }
}
