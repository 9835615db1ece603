package ai.companion.node.cluster;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The Hazelcast cluster name a secret stands for. Open-source Hazelcast has no member authentication; a member whose
 * cluster name differs is refused at join, so the name is derived from the secret, and the secret never leaves the node.
 */
public final class ClusterNames {
  private ClusterNames() {}

  /** Name used when no secret is configured: fine for one machine, said loudly in the log otherwise. */
  public static final String OPEN_CLUSTER_NAME = "companion-open";

  public static String fromSecret(String secret) {
    if (secret == null || secret.isEmpty()) return OPEN_CLUSTER_NAME;
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(("ai-companion cluster:" + secret).getBytes(StandardCharsets.UTF_8));
      return "companion-" + HexFormat.of().formatHex(digest).substring(0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
