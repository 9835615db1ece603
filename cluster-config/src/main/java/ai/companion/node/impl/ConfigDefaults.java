package ai.companion.node.impl;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Where a flag that is not on the command line gets its value: the environment variable {@code COMPANION_<FLAG>}
 * ({@code --http-port} reads {@code COMPANION_HTTP_PORT}), then the config file ({@code --config FILE} or
 * {@code COMPANION_CONFIG}; JSON or properties, keys {@code http-port}, {@code httpPort} or {@code http_port}),
 * then the built-in default.
 */
public final class ConfigDefaults implements IDefaultValueProvider {

  private final Map<String, String> env;
  private final Map<String, String> file;

  public ConfigDefaults(Map<String, String> env, Map<String, String> file) {
    this.env = env;
    this.file = file;
  }

  public static String envName(String longOption) {
    return "COMPANION_" + longOption.replaceFirst("^-+", "").replace('-', '_').toUpperCase(Locale.ROOT);
  }

  @Override
  public String defaultValue(ArgSpec arg) {
    if (!(arg instanceof OptionSpec opt)) return null;
    String flag = opt.longestName();
    if (!flag.startsWith("--") || flag.equals("--config")) return null;
    String v = env.get(envName(flag));
    if (v != null && !v.isBlank()) return v;
    String key = flag.substring(2);
    for (String k : new String[] {key, camel(key), key.replace('-', '_')}) {
      v = file.get(k);
      if (v != null) return v;
    }
    return null;
  }

  private static String camel(String key) {
    StringBuilder sb = new StringBuilder();
    boolean up = false;
    for (char c : key.toCharArray()) {
      if (c == '-') {
        up = true;
      } else {
        sb.append(up ? Character.toUpperCase(c) : c);
        up = false;
      }
    }
    return sb.toString();
  }

  /** The {@code --config} value from the raw arguments, else {@code COMPANION_CONFIG}, else null. */
  public static Path configFile(String[] args, Map<String, String> env) {
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--config") && i + 1 < args.length) return Path.of(args[i + 1]);
      if (args[i].startsWith("--config=")) return Path.of(args[i].substring("--config=".length()));
    }
    String e = env.get("COMPANION_CONFIG");
    return e == null || e.isBlank() ? null : Path.of(e);
  }

  /** Reads a JSON (object) or properties file into flat key/value strings; lists become comma-separated. */
  public static Map<String, String> readFile(Path file) throws IOException {
    if (file == null) return Map.of();
    if (!Files.isRegularFile(file)) throw new IOException("config file " + file + " does not exist");
    String text = Files.readString(file, StandardCharsets.UTF_8);
    Map<String, String> out = new HashMap<>();
    if (text.stripLeading().startsWith("{")) {
      JsonObject json;
      try {
        json = new JsonObject(text);
      } catch (RuntimeException e) {
        throw new IOException("config file " + file + " is not valid JSON: " + e.getMessage());
      }
      for (Map.Entry<String, Object> e : json) {
        Object v = e.getValue();
        if (v == null) continue;
        out.put(e.getKey(), v instanceof JsonArray a
            ? a.stream().map(String::valueOf).collect(Collectors.joining(",")) : String.valueOf(v));
      }
    } else {
      Properties p = new Properties();
      try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        p.load(r);
      }
      for (String k : p.stringPropertyNames()) out.put(k, p.getProperty(k).strip());
    }
    return out;
  }
}
