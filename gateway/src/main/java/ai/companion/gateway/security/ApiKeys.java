package ai.companion.gateway.security;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The configured API keys, held only as SHA-256 hashes: a heap dump or a log line never shows a key. A
 * presented key is hashed and looked up; the lookup is by hash, so its timing says nothing about the keys.
 */
public final class ApiKeys {

  /** One key as the gateway knows it: {@code id} (the first 12 hex digits of its hash, safe to log) and tenant. */
  public record Key(String id, String tenant) {}

  private final Map<String, Key> byHash;

  private ApiKeys(Map<String, Key> byHash) {
    this.byHash = Map.copyOf(byHash);
  }

  /**
   * Parses {@code key1:tenantA,key2:tenantB} (blanks around entries ignored; a key without {@code :tenant}
   * belongs to tenant {@code default}). Null or blank gives no keys, i.e. an open gateway.
   */
  public static ApiKeys parse(String spec) {
    Map<String, Key> keys = new LinkedHashMap<>();
    if (spec != null) {
      for (String entry : spec.split(",")) {
        String e = entry.strip();
        if (e.isEmpty()) continue;
        int colon = e.lastIndexOf(':');
        String key = colon < 0 ? e : e.substring(0, colon).strip();
        String tenant = colon < 0 ? "default" : e.substring(colon + 1).strip();
        if (key.length() < 8) {
          throw new IllegalArgumentException("API key #" + (keys.size() + 1) + " is shorter than 8 characters");
        }
        if (tenant.isEmpty()) throw new IllegalArgumentException("API key #" + (keys.size() + 1) + " has an empty tenant");
        String hash = sha256(key);
        keys.put(hash, new Key(hash.substring(0, 12), tenant));
      }
    }
    return new ApiKeys(keys);
  }

  public boolean enabled() { return !byHash.isEmpty(); }

  public int size() { return byHash.size(); }

  public Optional<Key> lookup(String presented) {
    if (presented == null || presented.isEmpty()) return Optional.empty();
    return Optional.ofNullable(byHash.get(sha256(presented)));
  }

  /** The key of an {@code Authorization: Bearer <key>} header value, or null. */
  public static String bearer(String authorization) {
    if (authorization == null) return null;
    String a = authorization.strip();
    if (a.regionMatches(true, 0, "Bearer ", 0, 7)) return a.substring(7).strip();
    return null;
  }

  static String sha256(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
