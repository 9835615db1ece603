package ai.companion.knowledge.impl;

import java.util.ArrayList;
import java.util.List;

/**
 * Cuts sections into chunks of about {@code targetChars}: whole paragraphs are packed together; a paragraph
 * that is too long is cut between sentences, and a sentence that is too long between words. Each new chunk of a
 * section starts with the last sentences of the previous one, up to {@code overlapChars}, so that a fact split
 * across a boundary is still whole in one chunk.
 */
public final class Chunker {
  private final int targetChars;
  private final int overlapChars;

  public Chunker(int targetChars, int overlapChars) {
    if (targetChars < 50) throw new IllegalArgumentException("targetChars must be >= 50, got " + targetChars);
    if (overlapChars < 0 || overlapChars >= targetChars) {
      throw new IllegalArgumentException("overlapChars must be in [0, targetChars), got " + overlapChars);
    }
    this.targetChars = targetChars;
    this.overlapChars = overlapChars;
  }

  /** A chunk: its heading path (may be empty) and text. */
  public record Chunk(String heading, String text) {}

  public List<Chunk> chunk(List<TextExtractor.Section> sections) {
    List<Chunk> out = new ArrayList<>();
    for (TextExtractor.Section s : sections) {
      if (s.text().isEmpty()) continue;
      List<String> units = new ArrayList<>();   // sentences, with paragraph ends marked
      List<Boolean> paraEnd = new ArrayList<>();
      for (String para : s.text().split("\\n\\n")) {
        List<String> sents = new ArrayList<>();
        for (String sent : Sentences.split(para)) sents.addAll(splitLong(sent));
        for (int i = 0; i < sents.size(); i++) {
          units.add(sents.get(i));
          paraEnd.add(i == sents.size() - 1);
        }
      }
      pack(s.heading(), units, paraEnd, out);
    }
    return out;
  }

  private void pack(String heading, List<String> units, List<Boolean> paraEnd, List<Chunk> out) {
    List<String> cur = new ArrayList<>();
    List<Boolean> curEnd = new ArrayList<>();
    int len = 0;
    int fresh = 0;   // units in cur that are not overlap
    for (int i = 0; i < units.size(); i++) {
      String u = units.get(i);
      if (fresh > 0 && len + 1 + u.length() > targetChars) {
        out.add(new Chunk(heading, join(cur, curEnd)));
        // carry the tail sentences as overlap
        List<String> keep = new ArrayList<>();
        List<Boolean> keepEnd = new ArrayList<>();
        int kl = 0;
        for (int j = cur.size() - 1; j >= 0 && kl + cur.get(j).length() <= overlapChars; j--) {
          keep.add(0, cur.get(j));
          keepEnd.add(0, curEnd.get(j));
          kl += cur.get(j).length() + 1;
        }
        cur = keep;
        curEnd = keepEnd;
        len = kl;
        fresh = 0;
      }
      cur.add(u);
      curEnd.add(paraEnd.get(i));
      len += u.length() + 1;
      fresh++;
    }
    if (fresh > 0) out.add(new Chunk(heading, join(cur, curEnd)));
  }

  private static String join(List<String> units, List<Boolean> ends) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < units.size(); i++) {
      sb.append(units.get(i));
      if (i < units.size() - 1) sb.append(ends.get(i) ? "\n\n" : " ");
    }
    return sb.toString();
  }

  /** A sentence longer than the target is cut between words. */
  private List<String> splitLong(String sentence) {
    if (sentence.length() <= targetChars) return List.of(sentence);
    List<String> out = new ArrayList<>();
    StringBuilder sb = new StringBuilder();
    for (String w : sentence.split(" ")) {
      if (sb.length() > 0 && sb.length() + 1 + w.length() > targetChars) {
        out.add(sb.toString());
        sb.setLength(0);
      }
      if (w.length() > targetChars) {   // one giant token (base64, a URL): cut it
        for (int i = 0; i < w.length(); i += targetChars) out.add(w.substring(i, Math.min(w.length(), i + targetChars)));
        continue;
      }
      if (sb.length() > 0) sb.append(' ');
      sb.append(w);
    }
    if (sb.length() > 0) out.add(sb.toString());
    return out;
  }
}
