package ai.companion.knowledge.impl;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns text, Markdown or HTML into plain text sections: a heading path and its paragraphs (separated by blank
 * lines). Markdown and HTML headings start sections, so a chunk knows which part of a document it came from.
 */
public final class TextExtractor {
  private TextExtractor() {}

  /** A run of paragraphs under one heading path (empty for text before any heading). */
  public record Section(String heading, String text) {}

  /** The result: the document title found in the content (may be null) and its sections. */
  public record Extracted(String title, List<Section> sections) {
    public String plainText() {
      StringBuilder sb = new StringBuilder();
      for (Section s : sections) {
        if (!s.heading().isEmpty()) sb.append(s.heading()).append("\n\n");
        sb.append(s.text()).append("\n\n");
      }
      return sb.toString().trim();
    }
  }

  public static Extracted extract(String text, String format) {
    return switch (format) {
      case "markdown" -> markdown(text);
      case "html" -> html(text);
      case "text" -> new Extracted(null, List.of(new Section("", normaliseParagraphs(text))));
      default -> throw new IllegalArgumentException("unknown format '" + format + "' (text, markdown or html)");
    };
  }

  // ---------------------------------------------------------------- markdown

  private static final Pattern MD_HEADING = Pattern.compile("^(#{1,6})\\s+(.*?)\\s*#*\\s*$");
  private static final Pattern MD_IMAGE = Pattern.compile("!\\[([^\\]]*)]\\([^)]*\\)");
  private static final Pattern MD_LINK = Pattern.compile("\\[([^\\]]+)]\\([^)]*\\)");
  private static final Pattern MD_REF_LINK = Pattern.compile("\\[([^\\]]+)]\\[[^\\]]*]");
  private static final Pattern MD_EMPHASIS = Pattern.compile("(\\*\\*|__|\\*|_)(?=\\S)(.+?)(?<=\\S)\\1");
  private static final Pattern MD_TABLE_RULE = Pattern.compile("^\\s*\\|?\\s*:?-{2,}:?\\s*(\\|\\s*:?-{2,}:?\\s*)*\\|?\\s*$");
  private static final Pattern MD_LIST = Pattern.compile("^\\s*([-*+]|\\d+[.)])\\s+");
  private static final Pattern MD_RULE = Pattern.compile("^\\s*([-*_])(\\s*\\1){2,}\\s*$");

  static Extracted markdown(String src) {
    List<Section> sections = new ArrayList<>();
    String[] path = new String[7];
    String title = null;
    String heading = "";
    StringBuilder body = new StringBuilder();
    boolean inFence = false;
    for (String raw : src.replace("\r\n", "\n").replace('\r', '\n').split("\n", -1)) {
      String line = raw;
      if (line.strip().startsWith("```") || line.strip().startsWith("~~~")) {
        inFence = !inFence;
        body.append("\n\n");   // a fence is a paragraph boundary; the code itself stays (commands are knowledge)
        continue;
      }
      if (inFence) {
        body.append(line).append('\n');
        continue;
      }
      Matcher h = MD_HEADING.matcher(line);
      if (h.matches()) {
        flush(sections, heading, body);
        int level = h.group(1).length();
        String text = inline(h.group(2));
        if (level == 1 && title == null) title = text;
        path[level] = text;
        for (int i = level + 1; i < path.length; i++) path[i] = null;
        heading = joinPath(path);
        continue;
      }
      if (MD_TABLE_RULE.matcher(line).matches() && line.contains("-") && line.contains("|")) continue;
      if (MD_RULE.matcher(line).matches()) {
        body.append("\n\n");
        continue;
      }
      if (line.startsWith("<!--") || line.strip().startsWith("<!--")) continue;
      boolean listItem = MD_LIST.matcher(line).find();
      line = MD_LIST.matcher(line).replaceFirst("");
      line = line.replaceFirst("^\\s*>\\s?", "");
      if (line.contains("|")) line = line.replaceAll("\\s*\\|\\s*", " | ").replaceAll("^ \\| | \\| $", "");
      line = inline(line);
      if (listItem && body.length() > 0 && body.charAt(body.length() - 1) != '\n') body.append('\n');
      // a list item ends the sentence before it, so it is not glued onto the previous line's sentence
      if (listItem) body.append('\n');
      body.append(line).append('\n');
    }
    flush(sections, heading, body);
    return new Extracted(title, sections);
  }

  private static String inline(String s) {
    s = MD_IMAGE.matcher(s).replaceAll("$1");
    s = MD_LINK.matcher(s).replaceAll("$1");
    s = MD_REF_LINK.matcher(s).replaceAll("$1");
    s = s.replace("`", "");
    s = MD_EMPHASIS.matcher(s).replaceAll("$2");
    s = s.replaceAll("<[^>]+>", "");
    return decodeEntities(s);
  }

  private static String joinPath(String[] path) {
    StringBuilder sb = new StringBuilder();
    for (String p : path) {
      if (p == null || p.isEmpty()) continue;
      if (sb.length() > 0) sb.append(" > ");
      sb.append(p);
    }
    return sb.toString();
  }

  private static void flush(List<Section> sections, String heading, StringBuilder body) {
    String text = normaliseParagraphs(body.toString());
    body.setLength(0);
    if (!text.isEmpty() || !heading.isEmpty()) sections.add(new Section(heading, text));
  }

  /** Collapses runs of spaces, keeps blank lines as paragraph breaks and joins wrapped lines of one paragraph. */
  static String normaliseParagraphs(String s) {
    String[] paras = s.replace("\r\n", "\n").replace('\r', '\n').split("\\n\\s*\\n");
    StringBuilder out = new StringBuilder();
    for (String p : paras) {
      // wrapped lines of one paragraph become one line; paragraphs stay apart
      String one = p.replaceAll("[\\s\\u00A0]+", " ").strip();
      if (one.isEmpty()) continue;
      if (out.length() > 0) out.append("\n\n");
      out.append(one);
    }
    return out.toString();
  }

  // ---------------------------------------------------------------- html

  private static final Pattern HTML_DROP = Pattern.compile(
      "(?is)<(script|style|noscript|template|svg|head|nav)\\b[^>]*>.*?</\\1\\s*>|<!--.*?-->|<!\\[CDATA\\[.*?]]>|<!doctype[^>]*>");
  private static final Pattern HTML_TITLE = Pattern.compile("(?is)<title\\b[^>]*>(.*?)</title\\s*>");
  private static final Pattern HTML_HEADING = Pattern.compile("(?is)<h([1-6])\\b[^>]*>(.*?)</h\\1\\s*>");
  private static final Pattern HTML_PRE = Pattern.compile("(?is)<pre\\b[^>]*>(.*?)</pre\\s*>");
  private static final Pattern HTML_BLOCK = Pattern.compile(
      "(?i)</?(p|div|section|article|main|header|footer|nav|aside|blockquote|ul|ol|li|dl|dt|dd|table|thead|tbody"
          + "|tr|figure|figcaption|form|fieldset|details|summary|address|hr)\\b[^>]*>");
  private static final Pattern HTML_CELL = Pattern.compile("(?i)</?(td|th)\\b[^>]*>");
  private static final Pattern HTML_BR = Pattern.compile("(?i)<br\\s*/?>");
  private static final Pattern HTML_TAG = Pattern.compile("(?s)<[^>]*>");
  private static final String HEADING_MARK = "\u0001H";

  static Extracted html(String src) {
    String title = null;
    Matcher t = HTML_TITLE.matcher(src);
    if (t.find()) title = clean(decodeEntities(HTML_TAG.matcher(t.group(1)).replaceAll(" ")));
    String s = HTML_DROP.matcher(src).replaceAll(" ");
    // pre blocks keep their lines
    Matcher pre = HTML_PRE.matcher(s);
    StringBuilder sb = new StringBuilder();
    while (pre.find()) {
      String code = HTML_TAG.matcher(pre.group(1)).replaceAll("");
      pre.appendReplacement(sb, Matcher.quoteReplacement("\n\n" + code.replace("\n\n", "\n") + "\n\n"));
    }
    pre.appendTail(sb);
    s = sb.toString();
    Matcher h = HTML_HEADING.matcher(s);
    sb = new StringBuilder();
    while (h.find()) {
      String text = clean(decodeEntities(HTML_TAG.matcher(h.group(2)).replaceAll(" ")));
      h.appendReplacement(sb, Matcher.quoteReplacement("\n\n" + HEADING_MARK + h.group(1) + " " + text + "\n\n"));
    }
    h.appendTail(sb);
    s = sb.toString();
    s = HTML_BR.matcher(s).replaceAll("\n");
    s = HTML_BLOCK.matcher(s).replaceAll("\n\n");
    s = HTML_CELL.matcher(s).replaceAll(" ");
    s = HTML_TAG.matcher(s).replaceAll("");
    s = decodeEntities(s);

    List<Section> sections = new ArrayList<>();
    String[] path = new String[7];
    String heading = "";
    StringBuilder body = new StringBuilder();
    for (String para : s.split("\\n\\s*\\n")) {
      String p = para.strip();
      if (p.startsWith(HEADING_MARK)) {
        flush(sections, heading, body);
        int level = p.charAt(HEADING_MARK.length()) - '0';
        String text = p.substring(HEADING_MARK.length() + 1).strip();
        if (level == 1 && title == null) title = text;
        path[level] = text;
        for (int i = level + 1; i < path.length; i++) path[i] = null;
        heading = joinPath(path);
      } else if (!p.isEmpty()) {
        body.append(p).append("\n\n");
      }
    }
    flush(sections, heading, body);
    return new Extracted(title, sections);
  }

  private static String clean(String s) {
    return s.replaceAll("\\s+", " ").strip();
  }

  private static final Map<String, String> ENTITIES = Map.ofEntries(
      Map.entry("amp", "&"), Map.entry("lt", "<"), Map.entry("gt", ">"), Map.entry("quot", "\""),
      Map.entry("apos", "'"), Map.entry("nbsp", " "), Map.entry("mdash", "\u2014"), Map.entry("ndash", "\u2013"),
      Map.entry("hellip", "\u2026"), Map.entry("copy", "\u00A9"), Map.entry("reg", "\u00AE"),
      Map.entry("rsquo", "\u2019"), Map.entry("lsquo", "\u2018"), Map.entry("rdquo", "\u201D"),
      Map.entry("ldquo", "\u201C"), Map.entry("eacute", "\u00E9"), Map.entry("uuml", "\u00FC"),
      Map.entry("ouml", "\u00F6"), Map.entry("auml", "\u00E4"), Map.entry("szlig", "\u00DF"));
  private static final Pattern ENTITY = Pattern.compile("&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});");

  static String decodeEntities(String s) {
    if (s.indexOf('&') < 0) return s;
    Matcher m = ENTITY.matcher(s);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      String e = m.group(1);
      String rep;
      try {
        if (e.startsWith("#x") || e.startsWith("#X")) rep = new String(Character.toChars(Integer.parseInt(e.substring(2), 16)));
        else if (e.startsWith("#")) rep = new String(Character.toChars(Integer.parseInt(e.substring(1))));
        else rep = ENTITIES.getOrDefault(e.toLowerCase(Locale.ROOT), m.group());
      } catch (IllegalArgumentException bad) {
        rep = m.group();
      }
      m.appendReplacement(sb, Matcher.quoteReplacement(rep));
    }
    m.appendTail(sb);
    return sb.toString();
  }
}
