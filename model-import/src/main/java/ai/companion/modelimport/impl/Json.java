package ai.companion.modelimport.impl;

import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** Writes maps, lists, strings, numbers, booleans and null as JSON (maps keep their order). */
public final class Json {
  private Json() {}

  public static String write(Object value) {
    StringBuilder sb = new StringBuilder();
    write(sb, value, 0);
    sb.append('\n');
    return sb.toString();
  }

  private static void write(StringBuilder sb, Object v, int indent) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String s) {
      quote(sb, s);
    } else if (v instanceof Float f) {
      if (!Float.isFinite(f)) throw new IllegalArgumentException("not a JSON number: " + f);
      sb.append(f);
    } else if (v instanceof Double d) {
      if (!Double.isFinite(d)) throw new IllegalArgumentException("not a JSON number: " + d);
      sb.append(d);
    } else if (v instanceof Number || v instanceof Boolean) {
      sb.append(v);
    } else if (v instanceof Map<?, ?> m) {
      if (m.isEmpty()) {
        sb.append("{}");
        return;
      }
      sb.append("{\n");
      Iterator<? extends Map.Entry<?, ?>> it = m.entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<?, ?> e = it.next();
        pad(sb, indent + 1);
        quote(sb, (String) e.getKey());
        sb.append(": ");
        write(sb, e.getValue(), indent + 1);
        if (it.hasNext()) sb.append(',');
        sb.append('\n');
      }
      pad(sb, indent);
      sb.append('}');
    } else if (v instanceof List<?> list) {
      // lists of scalars stay on one line
      boolean flat = list.stream().noneMatch(x -> x instanceof Map || x instanceof List);
      sb.append('[');
      for (int i = 0; i < list.size(); i++) {
        if (i > 0) sb.append(flat ? ", " : ",");
        if (!flat) {
          sb.append('\n');
          pad(sb, indent + 1);
        }
        write(sb, list.get(i), indent + 1);
      }
      if (!flat && !list.isEmpty()) {
        sb.append('\n');
        pad(sb, indent);
      }
      sb.append(']');
    } else {
      throw new IllegalArgumentException("cannot write " + v.getClass() + " as JSON");
    }
  }

  private static void pad(StringBuilder sb, int indent) {
    sb.append("  ".repeat(indent));
  }

  public static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      switch (ch) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          if (ch < 0x20 || ch == 0x7f || Character.isSurrogate(ch) && !validSurrogate(s, i)) {
            sb.append(String.format("\\u%04x", (int) ch));
          } else {
            sb.append(ch);
          }
        }
      }
    }
    sb.append('"');
  }

  private static boolean validSurrogate(String s, int i) {
    char ch = s.charAt(i);
    if (Character.isHighSurrogate(ch)) {
      return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
    }
    return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
  }
}
